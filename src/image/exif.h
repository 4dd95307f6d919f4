// image/exif.h — EXIF orientation (private to the image code and its tests).
//
// A deliberately small reader: it looks for one tag (0x0112 Orientation) in IFD0 of a TIFF-structured EXIF block
// and nothing else. Every offset is bounds-checked against the block; anything malformed means "orientation 1",
// never an error, never a read outside the span. It follows Pillow 9.4's Exif/ImageFileDirectory_v2 reading
// (what ImageOps.exif_transpose sees):
//  - an optional "Exif\0\0" prefix is skipped (JPEG APP1 payloads carry it, PNG eXIf chunks do not);
//  - byte order "II" (little endian) or "MM" (big endian), then the 42 marker in either byte order, then the IFD0
//    offset; entries are read until the count or the block ends (tags read before a short entry still count);
//  - the tag's first value is used when its type is SHORT, LONG, SBYTE, SSHORT or SLONG (Pillow keeps values[0] of a
//    longer list); BYTE/ASCII/UNDEFINED/rational/float values give no orientation; a later duplicate tag wins;
//  - values outside 1..8 mean 1.
#pragma once

#include <cstdint>
#include <span>

#include "kprcnn/image.h"

namespace kprcnn::image_detail {

// Orientation 1..8 from an EXIF block ("Exif\0\0" + TIFF, or bare TIFF). Malformed or absent tag: 1.
int exif_orientation(std::span<const std::uint8_t> exif) noexcept;

// Transposes `image` so that it looks as displayed for EXIF `orientation`, like PIL.ImageOps.exif_transpose:
// 2 mirror left-right, 3 rotate 180, 4 mirror top-bottom, 5 transpose, 6 rotate 90 clockwise, 7 transverse,
// 8 rotate 90 counter-clockwise. 5..8 swap width and height. Other values leave the image as it is.
void apply_exif_orientation(Image& image, int orientation);

}  // namespace kprcnn::image_detail
