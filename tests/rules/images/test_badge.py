"""School badge matching, on crests drawn here and pasted into the photos that ship with scikit-image.

Measured on this machine (2 cores, shared with other work): 18 skimage photos scaled to 1280 px, our crest pasted
at a share of the width and a rotation, JPEG q75. Share of photos where it was found:

    width   0deg  10deg  20deg  45deg
    25%     1.00  1.00   1.00   1.00
    15%     1.00  1.00   1.00   1.00
    10%     1.00  1.00   1.00   1.00
     8%     0.89  1.00   1.00   1.00
     6%     about 0.5          (5%: none)

With a round crest of another design registered instead, no image of those 288 gave a plausible fit even with 4
inliers; nor did our crest on the 18 photos without it. A crest drawn from the same template as ours (shield,
quartering, ribbon and lettering; other initials and emblems) matched with 8-35 inliers in most of them: the
matcher recognises a design, not initials. 30-40 ms per image (median), 60-90 ms at most. These photos are easier
than real ones: most are small pictures scaled up, so the crest's sharp corners are the strongest keypoints in
them. The research notes measured 0.85-0.98 at 25% width and 0.59-0.70 at 15% on 54 real photos.
`pytest -s` prints this run's table.
"""
import io
import math
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from rules.images.badge import BadgeHit, BadgeMatcher

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle", "hubble_deep_field", "camera",
          "immunohistochemistry", "coins", "brick", "gravel", "retina")
SIZES = (0.25, 0.15, 0.08)
ANGLES = (0, 10, 20)


def _font(size):
    return ImageFont.load_default(size=size)


def shield_crest(letters="SMA") -> Image.Image:
    """Quartered blue and gold shield, initials, a cross and an open book, a motto ribbon; transparent around."""
    img = Image.new("RGBA", (400, 500), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    arc = [(200 + 180 * math.cos(a), 250 + 220 * math.sin(a)) for a in np.linspace(0, math.pi, 24)]
    outline = [(20, 20), (380, 20), (380, 250), *arc, (20, 250)]
    draw.polygon(outline, fill=(20, 40, 110), outline="white", width=8)
    shape, gold = Image.new("L", img.size, 0), Image.new("L", img.size, 0)
    ImageDraw.Draw(shape).polygon(outline, fill=255)
    ImageDraw.Draw(gold).rectangle((200, 30, 370, 230), fill=255)
    ImageDraw.Draw(gold).rectangle((30, 230, 200, 480), fill=255)
    img.paste((230, 180, 30, 255), (0, 0), Image.fromarray(np.minimum(np.asarray(shape), np.asarray(gold))))
    draw.text((200, 150), letters, font=_font(88), fill="white", anchor="mm", stroke_width=4, stroke_fill="black")
    draw.rectangle((90, 250, 130, 400), fill=(180, 20, 30))
    draw.rectangle((55, 290, 165, 325), fill=(180, 20, 30))
    draw.polygon([(230, 300), (290, 285), (290, 380), (230, 395)], fill=(250, 250, 250), outline="black")
    draw.polygon([(290, 285), (350, 300), (350, 395), (290, 380)], fill=(240, 240, 240), outline="black")
    for y in range(305, 380, 12):
        draw.line([(240, y), (282, y - 10)], fill="black", width=2)
        draw.line([(298, y - 10), (340, y)], fill="black", width=2)
    draw.polygon([(10, 420), (390, 420), (370, 450), (390, 480), (10, 480), (30, 450)], fill=(245, 240, 220),
                 outline=(60, 30, 10), width=3)
    draw.text((200, 450), "FIDES ET LABOR", font=_font(26), fill=(60, 30, 10), anchor="mm")
    return img


def round_crest(letters="KHS") -> Image.Image:
    """Another school's badge: a roundel split on the diagonal, a tree and a star, initials on a band."""
    img = Image.new("RGBA", (400, 500), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.ellipse((10, 60, 390, 440), fill=(110, 20, 30), outline=(20, 20, 20), width=10)
    light, disc = Image.new("L", img.size, 0), Image.new("L", img.size, 0)
    ImageDraw.Draw(light).polygon([(20, 70), (380, 70), (20, 430)], fill=255)
    ImageDraw.Draw(disc).ellipse((22, 72, 378, 428), fill=255)
    img.paste((200, 200, 210, 255), (0, 0), Image.fromarray(np.minimum(np.asarray(light), np.asarray(disc))))
    draw.ellipse((120, 120, 240, 240), fill=(30, 140, 60), outline="white", width=5)
    draw.rectangle((170, 235, 190, 300), fill=(90, 60, 20))
    star = [(290 + (55 if i % 2 == 0 else 22) * math.cos(math.pi / 5 * i - math.pi / 2),
             260 + (55 if i % 2 == 0 else 22) * math.sin(math.pi / 5 * i - math.pi / 2)) for i in range(10)]
    draw.polygon(star, fill=(250, 220, 60), outline="black")
    draw.rectangle((60, 320, 340, 380), fill=(20, 20, 20))
    draw.text((200, 350), letters, font=_font(50), fill=(250, 220, 60), anchor="mm")
    return img


def photo(name: str, side: int = 1280) -> Image.Image:
    import skimage.data
    pixels = skimage.data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skimage.data, name)()
    img = Image.fromarray(pixels).convert("RGB")
    scale = side / max(img.size)
    return img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.BICUBIC)


def paste(background: Image.Image, crest: Image.Image, width: float, angle: float, rng) -> Image.Image:
    w = round(background.width * width)
    crest = crest.resize((w, round(w * crest.height / crest.width)), Image.Resampling.LANCZOS)
    crest = crest.rotate(angle, Image.Resampling.BICUBIC, expand=True)
    out = background.copy()
    out.paste(crest, (int(rng.integers(0, out.width - crest.width)), int(rng.integers(0, out.height - crest.height))),
              crest)
    return out


def jpeg(img: Image.Image, quality: int = 75) -> np.ndarray:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def opaque_width(crest: Image.Image) -> float:
    left, _, right, _ = crest.getchannel("A").point(lambda a: 255 if a > 127 else 0).getbbox()
    return (right - left) / crest.width


@pytest.fixture(scope="module")
def scenes():
    """(photo, width, angle, JPEG pixels) with our crest pasted in, and the photos without it."""
    rng, crest = np.random.default_rng(7), shield_crest()
    plain, pasted = {}, []
    for name in PHOTOS:
        background = photo(name)
        plain[name] = jpeg(background)
        pasted += [(name, w, a, jpeg(paste(background, crest, w, a, rng))) for w in SIZES for a in ANGLES]
    return plain, pasted


@pytest.fixture(scope="module")
def ours():
    return BadgeMatcher([("sma", np.asarray(shield_crest()))])


@pytest.fixture(scope="module")
def found(scenes, ours):
    hits, times = {}, []
    for name, width, angle, pixels in scenes[1]:
        start = time.perf_counter()
        hits[name, width, angle] = ours.match(pixels)
        times.append(time.perf_counter() - start)
    print(f"\nbadge: {len(times)} images, median {1000 * np.median(times):.0f} ms, max {1000 * max(times):.0f} ms")
    print("width  " + "  ".join(f"{a:>4}deg" for a in ANGLES))
    for width in SIZES:
        rates = [np.mean([hits[n, width, a] is not None for n in PHOTOS]) for a in ANGLES]
        print(f"{width:>5.0%}  " + "  ".join(f"{r:>7.2f}" for r in rates))
    return hits


@pytest.mark.parametrize("width, least", [(0.25, 0.9), (0.15, 0.9), (0.08, 0.75)])
def test_crest_is_found_down_to_a_twelfth_of_the_width(found, width, least):
    for angle in ANGLES:
        hits = [found[n, width, angle] for n in PHOTOS]
        assert np.mean([h is not None for h in hits]) >= least, (width, angle, hits)


def test_hit_names_the_logo_and_measures_its_size(found):
    expected = opaque_width(shield_crest())
    for (_, width, _), hit in found.items():
        if hit is not None:
            assert hit.logo == "sma" and hit.inliers >= 8
            assert hit.scale == pytest.approx(width * expected, rel=0.15)


def test_photos_without_the_crest_have_no_hit(scenes):
    probe = BadgeMatcher([("sma", np.asarray(shield_crest()))], min_inliers=4)
    best = [probe.match(pixels) for pixels in scenes[0].values()]
    most = max((h.inliers for h in best if h), default=0)
    print(f"\nbadge: most inliers of a plausible fit without the crest: {most} (0: none with 4 or more)")
    assert most < 8


def test_another_schools_crest_is_not_taken_for_ours(scenes):
    probe = BadgeMatcher([("khs", np.asarray(round_crest()))], min_inliers=4)
    best = [probe.match(pixels) for *_, pixels in scenes[1]]
    most = max((h.inliers for h in best if h), default=0)
    print(f"\nbadge: most inliers of a plausible fit for another school's crest: {most} (0: none with 4 or more)")
    assert most < 8


def test_of_two_registered_logos_the_one_in_the_photo_is_named(scenes):
    both = BadgeMatcher([("khs", np.asarray(round_crest())), ("sma", np.asarray(shield_crest()))])
    hits = [both.match(pixels) for name, width, angle, pixels in scenes[1] if width == 0.25 and angle == 0]
    assert [h.logo for h in hits if h] == ["sma"] * len(PHOTOS)


def test_photo_larger_than_1280_is_scaled_down_first(ours):
    big = jpeg(paste(photo("coffee", 2560), shield_crest(), 0.2, 10, np.random.default_rng(3)))
    hit = ours.match(big)
    assert hit is not None and hit.scale == pytest.approx(0.2 * opaque_width(shield_crest()), rel=0.15)


def test_logo_files_with_transparency_or_without(tmp_path):
    crest = shield_crest()
    crest.save(tmp_path / "crest.png")
    flat = Image.new("RGB", crest.size, "white")
    flat.paste(crest, (0, 0), crest)
    flat.save(tmp_path / "crest.jpg", quality=90)
    matcher = BadgeMatcher.from_paths([tmp_path / "crest.png", tmp_path / "crest.jpg"])
    scene = jpeg(paste(photo("astronaut"), crest, 0.2, 0, np.random.default_rng(5)))
    hit = matcher.match(scene)
    assert isinstance(hit, BadgeHit) and hit.logo.endswith(("crest.png", "crest.jpg"))


def test_crest_on_a_dark_blazer_is_found():
    rng = np.random.default_rng(11)
    cloth = np.clip(rng.normal((25, 30, 60), 6, (960, 1280, 3)), 0, 255).astype(np.uint8)
    scene = jpeg(paste(Image.fromarray(cloth), shield_crest(), 0.15, 0, rng))
    assert BadgeMatcher([("sma", np.asarray(shield_crest()))]).match(scene) is not None


@pytest.mark.parametrize("content", [b"", b"not a picture at all", b"\x89PNG\r\n\x1a\n truncated"])
def test_unreadable_logo_file_is_named(tmp_path, content):
    path = tmp_path / "broken-logo.png"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="broken-logo.png"):
        BadgeMatcher.from_paths([path])


def test_missing_logo_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="nowhere.png"):
        BadgeMatcher.from_paths([tmp_path / "nowhere.png"])


@pytest.mark.parametrize("logo", [
    np.full((400, 400, 3), 255, np.uint8),
    np.asarray(Image.new("RGBA", (400, 400), (0, 0, 0, 0))),
    np.pad(np.full((200, 200, 3), 30, np.uint8), ((100, 100), (100, 100), (0, 0)), constant_values=255),
    np.zeros((4, 4, 3), np.uint8),
], ids=["white", "transparent", "plain-square", "tiny"])
def test_logo_without_texture_is_refused(logo):
    with pytest.raises(ValueError, match="too few features|16 px"):
        BadgeMatcher([("plain", logo)])


@pytest.mark.parametrize("pixels", [
    np.zeros((1, 1, 3), np.uint8),
    np.zeros((20, 30, 3), np.uint8),
    np.zeros((960, 1280, 3), np.uint8),
    np.full((960, 1280, 3), 255, np.uint8),
    np.zeros((0, 0, 3), np.uint8),
    np.zeros((480, 640), np.uint8),
    np.zeros((480, 640, 4), np.uint8),
], ids=["1x1", "tiny", "black", "white", "empty", "grey", "rgba"])
def test_degenerate_photos_have_no_hit(ours, pixels):
    assert ours.match(pixels) is None


def test_one_matcher_serves_many_threads(scenes, ours):
    images = [pixels for _, width, angle, pixels in scenes[1] if angle == 10]
    alone = [ours.match(p) for p in images]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(ours.match, images)) == alone
