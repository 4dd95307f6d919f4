"""kprcnn's image decoding against Pillow 9.4 (fault rows 1-5).

The reference is what a Python pipeline feeds a torchvision model:
    ImageOps.exif_transpose(Image.open(path)).convert("RGB")
Every case is generated here with Pillow (or, for what Pillow cannot write — 2/4-bit grey, interlaced, 16-bit grey
with alpha, eXIf after IDAT — with the small PNG writer below), decoded by the `kprcnn_decode` test tool into a PPM,
and compared pixel for pixel. Pillow 9.4 on Debian uses the same libjpeg-turbo 2.1.5 as kprcnn, so JPEGs are expected
to match exactly too: every case asserts a maximum absolute difference of 0.

Run by ctest (KPRCNN_TOOLS_DIR is set); by hand:
    KPRCNN_TOOLS_DIR=build-img/tests /usr/bin/python3 -m pytest -q tests/python/test_decode_vs_pillow.py -s
(-s prints one "PARITY <case> max_abs_diff=N" line per case.)
"""

import io
import os
import struct
import subprocess
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

_TOOLS_DIR = os.environ.get("KPRCNN_TOOLS_DIR", "")
DECODE_TOOL = Path(_TOOLS_DIR) / "kprcnn_decode"

pytestmark = pytest.mark.skipif(
    not _TOOLS_DIR or not DECODE_TOOL.is_file(),
    reason="set KPRCNN_TOOLS_DIR to the folder holding the kprcnn_decode test tool",
)


# --------------------------------------------------------------------------------------------------------------
# helpers


def photo_like(width, height, seed=0):
    """Smooth gradients, hard edges and noise: exercises DCT, chroma upsampling and every pixel position."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 128 + 100 * np.sin(x / 7.0) * np.cos(y / 11.0)
    g = 255 * x / max(width - 1, 1)
    b = 255 * y / max(height - 1, 1)
    img = np.stack([r, g, b], axis=-1)
    img[height // 3 : height // 2, width // 4 : width // 2] = [250, 20, 30]
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def run_decode(path, out, *extra):
    return subprocess.run(
        [str(DECODE_TOOL), str(path), str(out), *map(str, extra)], capture_output=True, text=True, timeout=60
    )


def read_ppm(path):
    data = Path(path).read_bytes()
    magic, width, height, maxval, pixels = data.split(maxsplit=4)
    assert magic == b"P6" and maxval == b"255"
    return np.frombuffer(pixels, dtype=np.uint8).reshape(int(height), int(width), 3)


def kprcnn_rgb(path, tmp_path):
    out = tmp_path / (Path(path).name + ".ppm")
    result = run_decode(path, out)
    assert result.returncode == 0, result.stderr
    return read_ppm(out)


def pillow_rgb(path):
    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


def assert_same_as_pillow(name, path, tmp_path, tolerance=0):
    ours = kprcnn_rgb(path, tmp_path)
    ref = pillow_rgb(path)
    assert ours.shape == ref.shape, f"{name}: shape {ours.shape} vs Pillow {ref.shape}"
    diff = int(np.abs(ours.astype(np.int16) - ref.astype(np.int16)).max())
    print(f"PARITY {name} max_abs_diff={diff}")
    assert diff <= tolerance, f"{name}: max abs difference {diff} > {tolerance}"


def save(tmp_path, name, image, fmt, **params):
    path = tmp_path / name
    image.save(path, fmt, **params)
    return path


# Minimal PNG writer for what Pillow cannot write.


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def pack_rows(samples, bit_depth):
    """samples: (h, w, c) integers -> list of packed row bytes (no filter byte)."""
    h, w, c = samples.shape
    rows = []
    for y in range(h):
        flat = samples[y].reshape(-1)
        if bit_depth == 16:
            rows.append(flat.astype(">u2").tobytes())
        elif bit_depth == 8:
            rows.append(flat.astype(np.uint8).tobytes())
        else:
            per_byte = 8 // bit_depth
            padded = np.zeros(-(-flat.size // per_byte) * per_byte, dtype=np.uint32)
            padded[: flat.size] = flat
            packed = np.zeros(padded.size // per_byte, dtype=np.uint32)
            for i in range(per_byte):
                packed |= padded[i::per_byte] << (8 - bit_depth * (i + 1))
            rows.append(packed.astype(np.uint8).tobytes())
    return rows


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def raw_png(samples, bit_depth, color_type, interlace=False, palette=None, before_idat=(), after_idat=()):
    h, w, _ = samples.shape
    raw = b""
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    for x0, y0, dx, dy in passes:
        sub = samples[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        raw += b"".join(b"\0" + row for row in pack_rows(sub, bit_depth))
    out = b"\x89PNG\r\n\x1a\n"
    out += png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, int(interlace)))
    if palette is not None:
        out += png_chunk(b"PLTE", bytes(palette))
    for kind, data in before_idat:
        out += png_chunk(kind, data)
    out += png_chunk(b"IDAT", zlib.compress(raw))
    for kind, data in after_idat:
        out += png_chunk(kind, data)
    return out + png_chunk(b"IEND", b"")


def tiff_orientation(orientation, big_endian=False):
    """TIFF block (no "Exif" prefix) whose IFD0 holds Orientation (SHORT) after an unrelated tag."""
    e = ">" if big_endian else "<"
    head = (b"MM" if big_endian else b"II") + struct.pack(e + "HI", 42, 8)
    entries = struct.pack(e + "HHI", 0x010F, 2, 4) + b"ACME"  # Make, inline ASCII
    entries += struct.pack(e + "HHIH2x", 0x0112, 3, 1, orientation)
    return head + struct.pack(e + "H", 2) + entries + struct.pack(e + "I", 0)


# --------------------------------------------------------------------------------------------------------------
# JPEG


RGB = photo_like(67, 45)  # odd sizes: partial MCUs, odd chroma edges


@pytest.mark.parametrize(
    "name,params",
    [
        ("jpeg_baseline_420", dict(quality=90, subsampling=2)),
        ("jpeg_baseline_422", dict(quality=90, subsampling=1)),
        ("jpeg_baseline_444", dict(quality=95, subsampling=0)),
        ("jpeg_progressive_420", dict(quality=85, progressive=True)),
        ("jpeg_progressive_444", dict(quality=85, progressive=True, subsampling=0)),
        ("jpeg_optimized_q30", dict(quality=30, optimize=True)),
    ],
)
def test_jpeg_rgb(tmp_path, name, params):  # fault row 4
    path = save(tmp_path, name + ".jpg", Image.fromarray(RGB), "JPEG", **params)
    assert_same_as_pillow(name, path, tmp_path)


def test_jpeg_grey(tmp_path):  # fault row 4
    path = save(tmp_path, "grey.jpg", Image.fromarray(RGB).convert("L"), "JPEG", quality=90)
    assert_same_as_pillow("jpeg_grey", path, tmp_path)


@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg_cmyk(tmp_path, progressive):  # fault row 4: Adobe (inverted) CMYK, Pillow's cmyk2rgb
    rng = np.random.RandomState(1)
    cmyk = np.concatenate([RGB, (rng.rand(45, 67, 1) * 255).astype(np.uint8)], axis=-1)
    im = Image.frombytes("CMYK", (67, 45), cmyk.tobytes())
    path = save(tmp_path, "cmyk.jpg", im, "JPEG", quality=90, progressive=progressive)
    assert_same_as_pillow(f"jpeg_cmyk{'_progressive' if progressive else ''}", path, tmp_path)


@pytest.mark.parametrize("size", [(1, 1), (1, 300), (300, 1), (8, 8), (17, 9)])
def test_jpeg_small_and_thin(tmp_path, size):  # fault row 2
    w, h = size
    path = save(tmp_path, f"s{w}x{h}.jpg", Image.fromarray(photo_like(w, h)), "JPEG", quality=90)
    assert_same_as_pillow(f"jpeg_{w}x{h}", path, tmp_path)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("big_endian", [False, True])
def test_jpeg_exif_orientation(tmp_path, orientation, big_endian):  # fault row 5
    exif = b"Exif\0\0" + tiff_orientation(orientation, big_endian)
    path = save(tmp_path, f"o{orientation}.jpg", Image.fromarray(RGB), "JPEG", quality=90, exif=exif)
    with Image.open(path) as im:
        assert im.getexif().get(0x0112) == orientation
    assert_same_as_pillow(f"jpeg_exif_{'MM' if big_endian else 'II'}_{orientation}", path, tmp_path)


def test_jpeg_exif_written_by_pillow(tmp_path):  # fault row 5
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Pillow"
    path = save(tmp_path, "pil_exif.jpg", Image.fromarray(RGB), "JPEG", exif=exif.tobytes())
    assert_same_as_pillow("jpeg_exif_pillow_6", path, tmp_path)
    assert kprcnn_rgb(path, tmp_path).shape == (67, 45, 3)


@pytest.mark.parametrize(
    "name,exif",
    [
        ("ifd_offset_out_of_range", b"Exif\0\0II*\0" + struct.pack("<I", 1 << 30)),
        ("entry_count_overruns", b"Exif\0\0II*\0" + struct.pack("<IH", 8, 500) + struct.pack("<HHIHxx", 0x112, 3, 1, 6)[:7]),
        ("not_tiff", b"Exif\0\0XX*\0\x08\0\0\0"),
        ("orientation_9", b"Exif\0\0" + tiff_orientation(9)),
        ("orientation_0", b"Exif\0\0" + tiff_orientation(0)),
    ],
)
def test_jpeg_malformed_exif_is_ignored(tmp_path, name, exif):  # fault row 5: never an error
    path = save(tmp_path, name + ".jpg", Image.fromarray(RGB), "JPEG", quality=90, exif=exif)
    ours = kprcnn_rgb(path, tmp_path)
    with Image.open(path) as im:
        plain = np.asarray(im.convert("RGB"))
    assert np.array_equal(ours, plain)  # orientation 1
    print(f"PARITY jpeg_bad_exif_{name} max_abs_diff=0 (not rotated)")


# --------------------------------------------------------------------------------------------------------------
# PNG


def pillow_png_cases():
    rgb = Image.fromarray(RGB)
    rgba = Image.fromarray(np.concatenate([RGB, (RGB[..., :1] // 2 + 7)], axis=-1), "RGBA")
    grey = rgb.convert("L")
    la = Image.merge("LA", [grey, grey.point(lambda v: 255 - v)])
    pal = rgb.quantize(200)
    pal_trns = pal.copy()
    pal_trns.info["transparency"] = bytes(range(0, 200))
    pal16 = rgb.quantize(16)
    pal4 = rgb.quantize(4)
    pal2 = rgb.quantize(2)
    one_bit = grey.convert("1")
    return {
        "png_rgb": (rgb, {}),
        "png_rgba": (rgba, {}),
        "png_grey": (grey, {}),
        "png_grey_alpha": (la, {}),
        "png_palette": (pal, {}),
        "png_palette_trns": (pal_trns, {"transparency": bytes(range(0, 200))}),
        "png_palette_4bit": (pal16, {}),
        "png_palette_2bit": (pal4, {}),
        "png_palette_1bit": (pal2, {}),
        "png_1bit": (one_bit, {}),
        "png_rgb_trns": (rgb, {"transparency": (250, 20, 30)}),
        "png_grey_trns": (grey, {"transparency": 0}),
        "png_rgb_level9": (rgb, {"compress_level": 9}),
        "png_rgb_gamma": (rgb, {}),  # gAMA added below
    }


@pytest.mark.parametrize("name", sorted(pillow_png_cases()))
def test_png_modes_written_by_pillow(tmp_path, name):  # fault row 4
    image, params = pillow_png_cases()[name]
    path = save(tmp_path, name + ".png", image, "PNG", **params)
    if name == "png_rgb_gamma":
        data = path.read_bytes()
        path.write_bytes(data[:33] + png_chunk(b"gAMA", struct.pack(">I", 22000)) + data[33:])
    assert_same_as_pillow(name, path, tmp_path)


SAMPLES16 = (np.random.RandomState(3).rand(29, 31, 4) * 65535).astype(np.uint16)
SAMPLES16[0, :8, :] = [[0], [1], [255], [256], [257], [1000], [65280], [65535]]  # clipping edges for grey


@pytest.mark.parametrize(
    "name,channels,color_type,bit_depth",
    [
        ("png_grey_2bit", 1, 0, 2),
        ("png_grey_4bit", 1, 0, 4),
        ("png_grey_16bit", 1, 0, 16),  # Pillow: mode "I", convert("RGB") clips at 255 (see decode.cpp)
        ("png_grey_alpha_16bit", 2, 4, 16),
        ("png_rgb_16bit", 3, 2, 16),
        ("png_rgba_16bit", 4, 6, 16),
    ],
)
@pytest.mark.parametrize("interlace", [False, True])
def test_png_raw_depths(tmp_path, name, channels, color_type, bit_depth, interlace):  # fault row 4
    samples = SAMPLES16[..., :channels].astype(np.uint32) >> (16 - bit_depth)
    if name == "png_grey_16bit":
        samples = SAMPLES16[..., :1].astype(np.uint32) // 64  # mostly <= 1023: a mix of clipped and kept values
        samples[0, :8, 0] = [0, 1, 255, 256, 257, 1000, 65280, 65535]
    path = tmp_path / f"{name}{'_interlaced' if interlace else ''}.png"
    path.write_bytes(raw_png(samples, bit_depth, color_type, interlace=interlace))
    assert_same_as_pillow(path.stem, path, tmp_path)


@pytest.mark.parametrize(
    "name,channels,color_type,bit_depth",
    [
        ("rgb", 3, 2, 8),
        ("rgba", 4, 6, 8),
        ("grey_1bit", 1, 0, 1),
        ("grey_alpha", 2, 4, 8),
        ("palette_4bit", 1, 3, 4),
    ],
)
def test_png_interlaced(tmp_path, name, channels, color_type, bit_depth):  # fault row 4
    rng = np.random.RandomState(5)
    samples = (rng.rand(23, 37, channels) * (1 << bit_depth)).astype(np.uint32)
    palette = list(rng.randint(0, 256, 16 * 3)) if color_type == 3 else None
    path = tmp_path / f"interlaced_{name}.png"
    path.write_bytes(raw_png(samples, bit_depth, color_type, interlace=True, palette=palette))
    assert_same_as_pillow(f"png_interlaced_{name}", path, tmp_path)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_png_exif_orientation(tmp_path, orientation):  # fault row 5
    path = tmp_path / f"o{orientation}.png"
    path.write_bytes(raw_png(RGB, 8, 2, before_idat=[(b"eXIf", tiff_orientation(orientation, orientation % 2 == 0))]))
    assert_same_as_pillow(f"png_exif_{orientation}", path, tmp_path)


def test_png_exif_after_idat(tmp_path):  # fault row 5: Pillow reads an eXIf that follows the image data
    path = tmp_path / "late_exif.png"
    path.write_bytes(raw_png(RGB, 8, 2, after_idat=[(b"eXIf", tiff_orientation(6))]))
    assert_same_as_pillow("png_exif_after_idat_6", path, tmp_path)
    assert kprcnn_rgb(path, tmp_path).shape == (67, 45, 3)


def test_png_exif_written_by_pillow(tmp_path):  # fault row 5
    exif = Image.Exif()
    exif[0x0112] = 8
    path = save(tmp_path, "pil_exif.png", Image.fromarray(RGB), "PNG", exif=exif)
    assert_same_as_pillow("png_exif_pillow_8", path, tmp_path)


@pytest.mark.parametrize("size", [(1, 1), (1, 10000), (10000, 1)])
def test_png_small_and_thin(tmp_path, size):  # fault row 2
    w, h = size
    path = save(tmp_path, f"s{w}x{h}.png", Image.fromarray(photo_like(w, h)), "PNG")
    assert_same_as_pillow(f"png_{w}x{h}", path, tmp_path)


def test_png_missing_iend_decodes_like_pillow(tmp_path):  # fault row 1: pixels complete, trailer lost
    data = save(tmp_path, "full.png", Image.fromarray(RGB), "PNG").read_bytes()
    path = tmp_path / "no_iend.png"
    path.write_bytes(data[:-12])
    assert_same_as_pillow("png_missing_iend", path, tmp_path)


# --------------------------------------------------------------------------------------------------------------
# errors (fault rows 1-3): exit code 1, "error: <code>: <message>"


def expect_error(tmp_path, path, code, words, *extra):
    result = run_decode(path, tmp_path / "out.ppm", *extra)
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert result.stderr.startswith(f"error: {code}: "), result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    assert not (tmp_path / "out.ppm").exists()
    return result.stderr


def pillow_fails(path):
    try:
        with Image.open(path) as im:
            im.load()
    except Exception:  # noqa: BLE001 - any failure counts
        return True
    return False


def test_empty_file(tmp_path):  # fault row 1
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    expect_error(tmp_path, path, "image_decode", ["empty", str(path)])


def test_text_named_jpg(tmp_path):  # fault row 1
    path = tmp_path / "notes.jpg"
    path.write_text("these are not the pixels you are looking for\n")
    expect_error(tmp_path, path, "image_decode", ["not a JPEG or PNG image", "text"])


def test_gif_is_named(tmp_path):  # fault row 1
    path = save(tmp_path, "x.jpg", Image.fromarray(RGB).convert("P"), "GIF")
    expect_error(tmp_path, path, "image_decode", ["not a JPEG or PNG image", "GIF"])


@pytest.mark.parametrize("keep", [0.5, 0.9, -2])
@pytest.mark.parametrize("progressive", [False, True])
def test_truncated_jpeg(tmp_path, keep, progressive):  # fault row 1
    data = save(tmp_path, "full.jpg", Image.fromarray(RGB), "JPEG", progressive=progressive).read_bytes()
    cut = data[:keep] if isinstance(keep, int) else data[: int(len(data) * keep)]
    path = tmp_path / "cut.jpg"
    path.write_bytes(cut)
    assert pillow_fails(path)  # Pillow: "image file is truncated"
    expect_error(tmp_path, path, "image_decode", ["truncated"])


@pytest.mark.parametrize("keep", [0.3, 0.7])
def test_truncated_png(tmp_path, keep):  # fault row 1
    data = save(tmp_path, "full.png", Image.fromarray(RGB), "PNG").read_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: int(len(data) * keep)])
    assert pillow_fails(path)
    expect_error(tmp_path, path, "image_decode", ["PNG", "truncated"])


def test_png_bad_idat_crc(tmp_path):  # fault row 1 (Pillow does not check IDAT CRCs; libpng does)
    data = bytearray(save(tmp_path, "full.png", Image.fromarray(RGB), "PNG").read_bytes())
    idat = data.index(b"IDAT")
    length = struct.unpack(">I", data[idat - 4 : idat])[0]
    data[idat + 4 + length] ^= 0xFF  # first CRC byte
    path = tmp_path / "crc.png"
    path.write_bytes(bytes(data))
    expect_error(tmp_path, path, "image_decode", ["CRC"])


def test_jpeg_garbage_after_header(tmp_path):  # fault row 1
    data = save(tmp_path, "full.jpg", Image.fromarray(RGB), "JPEG").read_bytes()
    path = tmp_path / "garbage.jpg"
    path.write_bytes(data[:200] + bytes(np.random.RandomState(9).randint(0, 256, 2000, dtype=np.uint8)))
    expect_error(tmp_path, path, "image_decode", [])


def test_missing_file(tmp_path):  # fault row 1
    expect_error(tmp_path, tmp_path / "nope.png", "io", ["nope.png", "No such file"])


def test_pixel_cap_option(tmp_path):  # fault row 3
    path = save(tmp_path, "cap.png", Image.fromarray(RGB), "PNG")
    expect_error(tmp_path, path, "image_too_large", ["67x45", "max_pixels"], "--max-pixels", 67 * 45 - 1)
    assert run_decode(path, tmp_path / "ok.ppm", "--max-pixels", 67 * 45).returncode == 0


def test_png_header_bomb(tmp_path):  # fault row 3: 60000x60000 declared, rejected from the header
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0))
    path = tmp_path / "bomb.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + ihdr + png_chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + png_chunk(b"IEND", b""))
    start = time.monotonic()
    expect_error(tmp_path, path, "image_too_large", ["60000x60000"])
    assert time.monotonic() - start < 5


def test_jpeg_header_bomb(tmp_path):  # fault row 3
    data = bytearray(save(tmp_path, "small.jpg", Image.fromarray(RGB), "JPEG").read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 60000, 60000)  # height, width
    path = tmp_path / "bomb.jpg"
    path.write_bytes(bytes(data))
    expect_error(tmp_path, path, "image_too_large", ["60000x60000"])


def test_zero_width_png(tmp_path):  # fault row 2
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 10, 8, 2, 0, 0, 0))
    path = tmp_path / "zero.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + ihdr + png_chunk(b"IEND", b""))
    expect_error(tmp_path, path, "image_decode", ["width"])


def test_zero_height_jpeg(tmp_path):  # fault row 2
    data = bytearray(save(tmp_path, "small.jpg", Image.fromarray(RGB), "JPEG").read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 7] = b"\0\0"
    path = tmp_path / "zero.jpg"
    path.write_bytes(bytes(data))
    expect_error(tmp_path, path, "image_decode", [])
