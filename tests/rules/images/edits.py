"""What phones and social sites do to a photo before it is posted again: the edits the photo library must survive.
Shared by the tests and bench/photo_bench.py."""
from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps


def _font(size: int):
    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf", size)
    except OSError:
        return ImageFont.load_default(size)


def jpeg(img, quality: int):
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def crop(img, share: float, where: str = "centre"):
    w, h = img.size
    cw, ch = w * (1 - share), h * (1 - share)
    x0 = {"centre": (w - cw) / 2, "left": 0, "right": w - cw}[where]
    return img.crop((round(x0), round((h - ch) / 2), round(x0 + cw), round((h - ch) / 2 + ch)))


def caption(img):
    img = img.copy()
    w, h = img.size
    ImageDraw.Draw(img).text((w * 0.05, h * 0.78), "Great day out!", fill="white", font=_font(max(12, h // 10)),
                             stroke_width=max(1, h // 150), stroke_fill="black")
    return img


def border(img):
    w, h = img.size
    side = int(max(w, h) * 1.15)
    canvas = Image.new("RGB", (side, side), (245, 245, 245))
    canvas.paste(img, ((side - w) // 2, (side - h) // 2))
    return canvas


def screenshot(img):
    """A phone screenshot of the photo in a social app: status bar, header, caption and likes around it."""
    W, H = 1170, 2532
    canvas = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(canvas)
    d.text((40, 30), "9:41", fill="black", font=_font(40))
    d.text((900, 30), "5G 87%", fill="black", font=_font(36))
    d.rectangle((0, 120, W, 260), fill=(250, 250, 250))
    d.text((40, 160), "school_mum_22", fill="black", font=_font(44))
    shot = img.copy()
    shot.thumbnail((W, 1600))
    canvas.paste(shot, ((W - shot.width) // 2, 300))
    y = 300 + shot.height + 40
    d.text((40, y), "128 likes", fill="black", font=_font(40))
    d.text((40, y + 70), "What a brilliant trip with the class", fill="black", font=_font(36))
    return canvas


def square(img):
    w, h = img.size
    s = min(w, h)
    return img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))


EDITS = {
    "resize 50%": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS),
    "resize 25%": lambda im: im.resize((im.width // 4, im.height // 4), Image.Resampling.LANCZOS),
    "jpeg q30": lambda im: jpeg(im, 30),
    "crop 10%": lambda im: crop(im, 0.10),
    "crop 10% off-centre": lambda im: crop(im, 0.10, "left"),
    "mirror": ImageOps.mirror,
    "rotate 5°": lambda im: im.rotate(5, Image.Resampling.BICUBIC),
    "rotate -5° expanded": lambda im: im.rotate(-5, Image.Resampling.BICUBIC, expand=True),
    "brighter": lambda im: ImageEnhance.Brightness(im).enhance(1.2),
    "darker": lambda im: ImageEnhance.Brightness(im).enhance(0.8),
    "caption": caption,
    "border": border,
    "screenshot": screenshot,
    "square crop, 1080 px, q70": lambda im: jpeg(square(im).resize((1080, 1080)), 70),
}


def encoded(img, fmt: str = "JPEG") -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, fmt, quality=90) if fmt == "JPEG" else img.save(buf, fmt)
    return buf.getvalue()
