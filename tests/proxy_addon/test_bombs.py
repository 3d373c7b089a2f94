"""Decompression is bounded: a body that decodes to more than MAX_RATIO times its size (or MAX_DECODED bytes),
nested encodings included, is not inspected and is logged as an inspection error; it never expands in the proxy."""
import gzip
import tracemalloc
import zlib

import brotli
import pytest
import zstandard

from proxy_addon.extract import MAX_RATIO, ExtractError, decode_body
from rules.record.store import Filter
from tests.proxy_addon.test_addon import addon_with, make_flow, run

TEXT = b'{"status": "A lovely day at the farm with Year 2"}' * 50


def _stream(compressor, size: int, flush) -> bytes:
    """`size` zero bytes compressed a megabyte at a time: the bomb is made without holding what it expands to."""
    chunk, out = b"\0" * (1 << 20), []
    for _ in range(size >> 20):
        out.append(compressor(chunk))
    out.append(flush())
    return b"".join(out)


@pytest.fixture(scope="module")
def bombs():
    """Bodies of a few kilobytes that expand to 256 MB (far past any cap: MAX_RATIO times a few KB)."""
    size = 256 << 20
    gz = zlib.compressobj(9, zlib.DEFLATED, 31)
    once = _stream(gz.compress, size, gz.flush)
    br = brotli.Compressor(quality=5)
    zd = zstandard.ZstdCompressor().compressobj()
    df = zlib.compressobj(9)
    return {"gzip, gzip": gzip.compress(once, 9),
            "br": _stream(br.process, size, br.finish),
            "zstd": _stream(zd.compress, size, zd.flush),
            "deflate": _stream(df.compress, size, df.flush)}


@pytest.mark.parametrize("encoding,encode", [
    ("gzip", gzip.compress),
    ("gzip", lambda b: gzip.compress(b[:100]) + gzip.compress(b[100:])),  # two members
    ("deflate", zlib.compress),
    ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate
    ("br", brotli.compress),
    ("zstd", lambda b: zstandard.ZstdCompressor().compress(b)),
    ("gzip, br", lambda b: brotli.compress(gzip.compress(b))),
    ("identity", lambda b: b),
])
def test_honest_encodings_still_decode(encoding, encode):
    assert decode_body(encode(TEXT), encoding) == TEXT


@pytest.mark.parametrize("encoding", ["gzip, gzip", "br", "zstd", "deflate"])
def test_a_bomb_is_refused_while_it_expands_not_after(bombs, encoding):
    body = bombs[encoding]
    tracemalloc.start()
    try:
        with pytest.raises(ExtractError, match="decompression bomb"):
            decode_body(body, encoding)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * max(len(body), 1024) * MAX_RATIO + (8 << 20), f"{peak} bytes held while decoding"


def test_truncated_and_trailing_garbage_are_errors_not_partial_text():
    with pytest.raises(ExtractError):
        decode_body(gzip.compress(TEXT)[:-12], "gzip")
    with pytest.raises(ExtractError):
        decode_body(gzip.compress(TEXT) + b"garbage", "gzip")
    with pytest.raises(ExtractError):
        decode_body(TEXT, "gzip, gzip, gzip, gzip, gzip")  # more layers than any client sends


def test_the_proxy_logs_a_bomb_as_an_inspection_error_and_sends_it_on_untouched(store, bombs):
    body = bombs["gzip, gzip"]
    flow = run(addon_with(store), make_flow(body, "application/json",
                                            headers=[("Content-Encoding", "gzip, gzip")]))
    assert flow.request.raw_content == body and flow.response is None
    (event,) = store.list(Filter(decision="inspection_error")).rows
    assert "decompression bomb" in event["reason"]


@pytest.mark.parametrize("encoding,encode", [
    ("gzip", gzip.compress),
    ("deflate", zlib.compress),
    ("br", brotli.compress),
    ("zstd", lambda b: zstandard.ZstdCompressor().compress(b)),
    ("br, gzip", lambda b: gzip.compress(brotli.compress(b))),
])
def test_an_honest_body_of_many_megabytes_decodes_whole_a_step_at_a_time(encoding, encode):
    """Bodies are decoded a megabyte at a time (extract.STEP): what spans many steps, long runs of one byte
    included (zlib holds their output back until there is room), comes out whole."""
    import random

    from proxy_addon.extract import STEP
    body = random.Random(1).randbytes(3 * STEP + 7) + bytes(5 * STEP) + TEXT * 1000
    assert decode_body(encode(body), encoding) == body
