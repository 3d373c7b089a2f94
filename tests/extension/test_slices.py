"""The metadata the extension sends for a big photo (extension/src/lib/slices.js, run by Node) holds everything the
location walkers read: on every JPEG and HEIF of the corpus it reduces, the report (coordinates, places, camera,
errors) equals the whole file's."""
from __future__ import annotations

import subprocess

import pytest

from rules.media import inspect

from ..conftest import require_corpus
from .conftest import ROOT, require_node

REDUCE = """
import { readFileSync, writeFileSync } from "node:fs";
import { metadataOnly } from "./extension/src/lib/slices.js";
const args = process.argv.slice(1);
for (let i = 0; i < args.length; i += 2) {
  const out = await metadataOnly(new Blob([readFileSync(args[i])]), { minSize: 0 });
  if (out) writeFileSync(args[i + 1], out);
}
"""


def report(data: bytes) -> tuple:
    r = inspect(data)
    return (sorted((round(c.lat, 7), round(c.lon, 7)) for c in r.coordinates), sorted(map(str, r.places)),
            r.camera, bool(r.errors))


def test_reduced_photos_report_what_the_whole_files_do(tmp_path):
    node = require_node()
    corpus = require_corpus()
    files = [p for p in sorted(corpus.glob("*/*")) if p.suffix.lower() in (".jpg", ".jpeg", ".heic", ".heif", ".avif")]
    args = []
    for i, p in enumerate(files):
        args += [str(p), str(tmp_path / f"{i}{p.suffix}")]
    subprocess.run([node, "--input-type=module", "-e", REDUCE, *args], cwd=ROOT, check=True, timeout=120)
    reduced = 0
    for i, p in enumerate(files):
        out = tmp_path / f"{i}{p.suffix}"
        if not out.exists():
            continue  # sent whole
        reduced += 1
        whole = p.read_bytes()
        small = out.read_bytes()
        assert len(small) < max(len(whole), 4096), p
        assert report(small) == report(whole), f"{p.relative_to(corpus)}: the reduced file reports differently"
    assert reduced >= len(files) * 3 // 4, f"only {reduced} of {len(files)} reduced"
    located = [p for p in files if inspect(p.read_bytes()).real_coordinates]
    assert located, "the corpus has located photos"


@pytest.mark.parametrize("config, pixels", [
    ({}, False),
    ({"sites": [{"name": "Main site", "lat": 53.38, "lon": -1.45, "radius_m": 300}]}, True),
    ({"cameras": [{"serial": "123063022888"}]}, True),
])
def test_the_service_says_when_pixels_matter(tmp_path, config, pixels):
    from local_service.app import create_app
    from local_service.services import Services
    from rules.config import parse_config
    cfg = parse_config({"data_dir": str(tmp_path / "data"), "school": {"name": "T", **config}})
    app = create_app({"TESTING": True, "SECRET_KEY": "s"},
                     Services.open(cfg, database=f"sqlite:///{tmp_path / 'e.sqlite3'}", token="t" * 20, user="u"))
    r = app.test_client().get("/api/v1/photos/needs", headers={"Authorization": "Bearer " + "t" * 20})
    assert r.status_code == 200 and r.get_json()["pixels"] is pixels, r.get_json()
    assert app.test_client().get("/api/v1/photos/needs").status_code == 401
    app.extensions["postguard"].store.close()
