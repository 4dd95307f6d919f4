// The Python module `kprcnn` (its compiled part, kprcnn._kprcnn): the C++ library's Detector, images, drawing,
// JSON and COCO evaluation, with nanobind. README "Python module" is the user's view; bindings/python/kprcnn/
// __init__.py re-exports what is here.
//
// Rules kept throughout:
//  - Every call that decodes, runs the model, draws, encodes or evaluates releases the GIL (Detector::predict is
//    const and thread-safe, so Python threads predicting on one Detector run in parallel). What such a call reads
//    while the GIL is released is C++-owned or an immutable Python object the call holds a reference to (bytes);
//    numpy pixels are copied into a kprcnn::Image first, under the GIL, since another thread may write to them.
//  - Every kprcnn::Error becomes kprcnn.Error (a RuntimeError) whose .code is kprcnn::to_string(ErrorCode), the
//    short names the server's JSON error bodies use ("io", "image_decode", "invalid_argument", ...). Wrong
//    Python types are TypeError; wrong numpy dtype/shape is kprcnn.Error with code "invalid_argument", as the
//    library reports other bad arguments.
//  - Prediction.to_json() is kprcnn::to_json, the function `kprcnn predict` writes its files with, so its text is
//    the CLI's for the same image, model file name and options.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/array.h>
#include <nanobind/stl/filesystem.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kprcnn/kprcnn.h"

namespace nb = nanobind;
using namespace nb::literals;
namespace fs = std::filesystem;

namespace kprcnn::python {
namespace {

PyObject* g_error_type = nullptr;  // kprcnn.Error, made once at import

// A Prediction with what its JSON and drawing need from the Detector, so that it stands alone in Python.
struct PyPrediction {
  Prediction result;
  std::vector<KeypointInfo> keypoints;
  std::vector<std::pair<int, int>> skeleton;
  std::string image_name;  // the JSON's "image": the file name for a path, else `name=` ("" by default)
  std::string model_name;  // the JSON's "model": the model's file name, as the CLI writes it
};

using Array3u8 = nb::ndarray<nb::numpy, std::uint8_t, nb::shape<-1, -1, 3>>;
using ArrayK3f = nb::ndarray<nb::numpy, float, nb::shape<-1, 3>>;

bool is_path(nb::handle obj) {
  return nb::isinstance<nb::str>(obj) || nb::hasattr(obj, "__fspath__");
}

// An HxWx3 uint8 array of any strides (a crop, a BGR->RGB flip, a transposed view) copied into an Image.
Image image_from_array(nb::handle obj) {
  nb::ndarray<nb::ro> array;
  if (!nb::try_cast(obj, array)) {
    const std::string message =
        "expected an image: a path (str or os.PathLike), bytes of a JPEG/PNG file, a kprcnn.Image or a numpy "
        "HxWx3 uint8 array; got " +
        std::string(nb::type_name(obj.type()).c_str());
    throw nb::type_error(message.c_str());
  }
  if (array.device_type() != nb::device::cpu::value) {
    throw Error(ErrorCode::kInvalidArgument, "the image array must be in CPU memory");
  }
  if (array.dtype() != nb::dtype<std::uint8_t>()) {
    throw Error(ErrorCode::kInvalidArgument,
                "the image array must have dtype uint8 (RGB 0..255); convert it with array.astype(numpy.uint8)");
  }
  if (array.ndim() != 3 || array.shape(2) != 3) {
    std::string shape;
    for (std::size_t i = 0; i < array.ndim(); ++i) shape += (i ? ", " : "") + std::to_string(array.shape(i));
    throw Error(ErrorCode::kInvalidArgument,
                "the image array must have shape (height, width, 3), RGB; got (" + shape + ")");
  }
  const auto height = static_cast<std::int64_t>(array.shape(0)), width = static_cast<std::int64_t>(array.shape(1));
  if (height <= 0 || width <= 0 || height > (1 << 30) / width) {
    throw Error(ErrorCode::kInvalidArgument,
                "the image array is empty or too large: " + std::to_string(height) + "x" + std::to_string(width));
  }
  Image image(static_cast<int>(width), static_cast<int>(height));
  const auto* base = static_cast<const std::uint8_t*>(array.data());
  const std::int64_t sy = array.stride(0), sx = array.stride(1), sc = array.stride(2);  // in elements (= bytes)
  if (sc == 1 && sx == 3 && sy == 3 * width) {
    std::memcpy(image.pixels.data(), base, image.pixels.size());
  } else {
    std::uint8_t* out = image.pixels.data();
    for (std::int64_t y = 0; y < height; ++y) {
      for (std::int64_t x = 0; x < width; ++x) {
        const std::uint8_t* p = base + y * sy + x * sx;
        *out++ = p[0];
        *out++ = p[sc];
        *out++ = p[2 * sc];
      }
    }
  }
  return image;
}

Array3u8 to_numpy(const Image& image) {
  auto* copy = new std::vector<std::uint8_t>(image.pixels);
  nb::capsule owner(copy, [](void* p) noexcept { delete static_cast<std::vector<std::uint8_t>*>(p); });
  return Array3u8(copy->data(), {static_cast<std::size_t>(image.height), static_cast<std::size_t>(image.width), 3},
                  owner);
}

nb::bytes to_bytes(const std::vector<std::uint8_t>& data) {
  return nb::bytes(reinterpret_cast<const char*>(data.data()), data.size());
}

// Any accepted image argument as an Image; `name` gets a path's file name. Decoding runs without the GIL.
Image load_image(nb::handle obj, std::string* name) {
  if (nb::isinstance<Image>(obj)) return nb::cast<const Image&>(obj);
  if (nb::isinstance<nb::bytes>(obj)) {
    // bytes are immutable and `obj` is held by the caller: safe to read without the GIL.
    const auto bytes = nb::borrow<nb::bytes>(obj);
    const std::span<const std::uint8_t> span(reinterpret_cast<const std::uint8_t*>(bytes.c_str()), bytes.size());
    nb::gil_scoped_release release;
    return decode_image(span);
  }
  if (nb::isinstance<nb::bytearray>(obj)) {
    const auto array = nb::borrow<nb::bytearray>(obj);
    const auto* data = reinterpret_cast<const std::uint8_t*>(array.c_str());
    const std::vector<std::uint8_t> copy(data, data + array.size());  // mutable: copied under the GIL
    nb::gil_scoped_release release;
    return decode_image(copy);
  }
  if (is_path(obj)) {
    const auto path = nb::cast<fs::path>(obj);
    if (name) *name = path.filename().string();
    nb::gil_scoped_release release;
    return read_image(path);
  }
  return image_from_array(obj);
}

// A keyword argument as the option table's text (kprcnn/options.h), checking its Python type first: a string
// for a number is a TypeError as Python code expects, a value out of range the table's kInvalidArgument.
std::string option_text(const OptionInfo& info, nb::handle value) {
  const auto wrong = [&](const char* want) {
    return nb::type_error(
        (info.name + " takes " + want + ", got " + nb::cast<std::string>(nb::str(value.type().attr("__name__"))))
            .c_str());
  };
  switch (info.type) {
    case OptionType::kBool:
      if (!nb::isinstance<nb::bool_>(value)) throw wrong("True or False");
      return nb::cast<bool>(value) ? "1" : "0";
    case OptionType::kInt:
      if (!nb::isinstance<nb::int_>(value) || nb::isinstance<nb::bool_>(value)) throw wrong("an int");
      return nb::cast<std::string>(nb::str(value));
    case OptionType::kFloat:
      if ((!nb::isinstance<nb::int_>(value) && !nb::isinstance<nb::float_>(value)) || nb::isinstance<nb::bool_>(value))
        throw wrong("a number");
      return nb::cast<std::string>(nb::repr(nb::float_(value)));  // repr: the shortest round-trip text
    case OptionType::kText:
      if (!nb::isinstance<nb::str>(value)) throw wrong("a str");
      return nb::cast<std::string>(value);
    case OptionType::kPath:
      if (value.is_none()) return "";
      if (!is_path(value)) throw wrong("a str or os.PathLike");
      return nb::cast<fs::path>(value).string();
  }
  return {};
}

// Applies keyword arguments of the given groups to `options`; an unknown name is a TypeError listing the names.
void apply_kwargs(Options& options, const nb::kwargs& kwargs, std::initializer_list<OptionGroup> groups,
                  const char* where) {
  for (const auto& [key, value] : kwargs) {
    const std::string name = nb::cast<std::string>(key);
    const OptionInfo* info = find_option(name);
    if (!info || std::find(groups.begin(), groups.end(), info->group) == groups.end() ||
        name.find('-') != std::string::npos) {
      std::string names;
      for (const OptionInfo& o : option_list()) {
        if (std::find(groups.begin(), groups.end(), o.group) != groups.end())
          names += (names.empty() ? "" : ", ") + o.name;
      }
      throw nb::type_error(
          (std::string(where) + "() got an unexpected keyword argument '" + name + "' (options: " + names + ")")
              .c_str());
    }
    set_option(options, name, option_text(*info, value));
  }
}

// The Python object of a Detector: the Detector plus the model's file name (the JSON's "model").
struct PyDetector {
  Detector detector;
  std::string model_name;
};

nb::dict tensor_dict(const TensorInfo& t) {
  nb::dict d;
  d["name"] = t.name;
  d["type"] = t.type;
  d["shape"] = t.shape;
  d["dims"] = t.dims;
  d["text"] = to_string(t);
  return d;
}

void translate_error(const std::exception_ptr& p, void*) {
  try {
    std::rethrow_exception(p);
  } catch (const Error& e) {
    nb::object exc = nb::handle(g_error_type)(e.what());
    exc.attr("code") = to_string(e.code());
    PyErr_SetObject(g_error_type, exc.ptr());
  }
}

}  // namespace
}  // namespace kprcnn::python

NB_MODULE(_kprcnn, m) {
  using namespace kprcnn;
  using namespace kprcnn::python;
  m.doc() = "kprcnn: exported torchvision Keypoint R-CNN models on ONNX Runtime or OpenVINO (README, Python module)";

  g_error_type = PyErr_NewExceptionWithDoc(
      "kprcnn.Error",
      "A failure reported by the kprcnn library. .code names its kind: invalid_argument, io, image_decode, "
      "image_too_large, model_load, model_contract, colormap, engine_unavailable, inference, internal.",
      PyExc_RuntimeError, nullptr);
  m.attr("Error") = nb::handle(g_error_type);
  nb::register_exception_translator(translate_error);

  m.attr("__version__") = version();
  m.def(
      "options",
      [] {
        static const char* const groups[] = {"detector", "predict", "draw"};
        nb::list out;
        for (const OptionInfo& o : option_list()) {
          nb::dict d;
          d["name"] = o.name;
          d["group"] = groups[static_cast<int>(o.group)];
          d["help"] = o.help;
          d["default"] = o.default_value;
          if (o.type == OptionType::kInt || o.type == OptionType::kFloat) d["range"] = nb::make_tuple(o.min, o.max);
          if (!o.choices.empty()) d["choices"] = o.choices;
          out.append(d);
        }
        return out;
      },
      "The option table every front end shares (kprcnn/options.h): Detector() takes the 'detector' group, "
      "predict() the 'predict' group, draw() the 'draw' group; defaults as text");
  m.def("onnxruntime_version", &onnxruntime_version);
  m.def("available_providers", &available_providers);
  m.def("openvino_version", &openvino_version, "OpenVINO's version, or '' when its plugin does not load");
  m.def("openvino_unavailable_reason", &openvino_unavailable_reason);

  nb::class_<Image>(m, "Image", "A decoded image: 8-bit RGB, width x height")
      .def(
          "__init__", [](Image* self, nb::handle array) { new (self) Image(image_from_array(array)); }, "array"_a,
          "From a numpy HxWx3 uint8 RGB array (copied)")
      .def_ro("width", &Image::width)
      .def_ro("height", &Image::height)
      .def("to_numpy", &to_numpy, "The pixels as a new HxWx3 uint8 numpy array (a copy)")
      .def(
          "save",
          [](const Image& image, const fs::path& path, int jpeg_quality) {
            nb::gil_scoped_release release;
            write_image(image, path, jpeg_quality);
          },
          "path"_a, "jpeg_quality"_a = 90, "Encode by extension (.png, .jpg/.jpeg) and write atomically")
      .def("encode_png",
           [](const Image& image) {
             std::vector<std::uint8_t> data;
             {
               nb::gil_scoped_release release;
               data = encode_png(image);
             }
             return to_bytes(data);
           })
      .def(
          "encode_jpeg",
          [](const Image& image, int quality) {
            std::vector<std::uint8_t> data;
            {
              nb::gil_scoped_release release;
              data = encode_jpeg(image, quality);
            }
            return to_bytes(data);
          },
          "quality"_a = 90)
      .def("__repr__", [](const Image& image) {
        return "kprcnn.Image(" + std::to_string(image.width) + "x" + std::to_string(image.height) + ")";
      });

  m.def(
      "read_image",
      [](const fs::path& path) {
        nb::gil_scoped_release release;
        return read_image(path);
      },
      "path"_a, "Decode a JPEG or PNG file (EXIF orientation applied), as kprcnn predict does");
  m.def(
      "decode_image", [](nb::bytes data) { return load_image(data, nullptr); }, "data"_a,
      "Decode JPEG or PNG bytes (EXIF orientation applied)");

  nb::class_<Detection>(m, "Detection")
      .def_prop_ro(
          "box", [](const Detection& d) { return std::make_tuple(d.box.x1, d.box.y1, d.box.x2, d.box.y2); },
          "(x1, y1, x2, y2) in source-image pixels")
      .def_ro("score", &Detection::score)
      .def_ro("label", &Detection::label)
      .def_prop_ro(
          "keypoints",
          [](const Detection& d) {
            auto* values = new std::vector<float>();
            values->reserve(d.keypoints.size() * 3);
            for (const Keypoint& k : d.keypoints) values->insert(values->end(), {k.x, k.y, k.score});
            nb::capsule owner(values, [](void* p) noexcept { delete static_cast<std::vector<float>*>(p); });
            return ArrayK3f(values->data(), {d.keypoints.size(), 3}, owner);
          },
          nb::rv_policy::automatic,  // the array owns its copy (reference_internal would tie it to the Detection)
          "K x 3 float32 array: x, y (source-image pixels), score (the model's keypoint logit)")
      .def("__repr__", [](const Detection& d) {
        return "kprcnn.Detection(label=" + std::to_string(d.label) + ", score=" + std::to_string(d.score) + ", box=(" +
               std::to_string(d.box.x1) + ", " + std::to_string(d.box.y1) + ", " + std::to_string(d.box.x2) + ", " +
               std::to_string(d.box.y2) + "))";
      });

  nb::class_<PyPrediction>(m, "Prediction")
      .def_prop_ro(
          "detections", [](const PyPrediction& p) { return p.result.detections; },
          "Detections above the threshold, highest score first (a new list of copies)")
      .def_prop_ro("width", [](const PyPrediction& p) { return p.result.width; })
      .def_prop_ro("height", [](const PyPrediction& p) { return p.result.height; })
      .def_prop_ro("input_width", [](const PyPrediction& p) { return p.result.input_width; })
      .def_prop_ro("input_height", [](const PyPrediction& p) { return p.result.input_height; })
      .def_prop_ro("preprocess_ms", [](const PyPrediction& p) { return p.result.preprocess_ms; })
      .def_prop_ro("inference_ms", [](const PyPrediction& p) { return p.result.inference_ms; })
      .def_prop_ro("postprocess_ms", [](const PyPrediction& p) { return p.result.postprocess_ms; })
      .def_prop_ro("keypoint_names",
                   [](const PyPrediction& p) {
                     std::vector<std::string> names;
                     for (const auto& k : p.keypoints) names.push_back(k.name);
                     return names;
                   })
      .def_ro("image_name", &PyPrediction::image_name)
      .def_ro("model_name", &PyPrediction::model_name)
      .def(
          "to_json",
          [](const PyPrediction& p, int indent) {
            return to_json(p.result, p.keypoints, p.image_name, p.model_name, indent);
          },
          "indent"_a = 2, "The document `kprcnn predict` writes for this image (the same function writes both)")
      .def("__len__", [](const PyPrediction& p) { return p.result.detections.size(); })
      .def("__repr__", [](const PyPrediction& p) {
        return "kprcnn.Prediction(" + std::to_string(p.result.detections.size()) + " detections, " +
               std::to_string(p.result.width) + "x" + std::to_string(p.result.height) + ")";
      });

  nb::class_<PyDetector>(m, "Detector",
                         "One loaded model on one engine. predict() may be called from several threads at once.")
      .def(
          "__init__",
          [](PyDetector* self, const fs::path& model, const nb::kwargs& kwargs) {
            // The option table's detector options, as the CLI's flags; the model cache is on by default as there.
            Options options = default_options();
            apply_kwargs(options, kwargs, {OptionGroup::kDetector}, "Detector");
            nb::gil_scoped_release release;  // loading takes seconds: let other Python threads run
            new (self) PyDetector{Detector(model, options.detector), model.filename().string()};
          },
          "model"_a, "kwargs"_a,
          "Load an exported model. Keyword arguments are kprcnn's detector options (kprcnn.options(): engine, "
          "provider, precision, threads, concurrent_runs, colormap, cache_dir, no_cache, warm_up_runs, ...), with "
          "the CLI's defaults, ranges and messages.")
      .def(
          "predict",
          [](const PyDetector& self, nb::handle image, std::optional<std::string> name, const nb::kwargs& kwargs) {
            Options options = default_options();
            apply_kwargs(options, kwargs, {OptionGroup::kPredict}, "predict");
            PyPrediction out;
            // Paths and encoded bytes take the shared pipeline's decode (kprcnn/pipeline.h; fast_decode included);
            // a kprcnn.Image is used in place (its pixels cannot change from Python), an array is copied in.
            std::vector<std::uint8_t> owned;      // a file's or a bytearray's bytes
            std::span<const std::uint8_t> bytes;  // what gets decoded
            const Image* source = nullptr;
            Image converted;
            if (nb::isinstance<Image>(image)) {
              source = &nb::cast<const Image&>(image);
            } else if (nb::isinstance<nb::bytes>(image)) {
              // bytes are immutable and held by the caller for the call: read in place, without the GIL.
              const auto b = nb::borrow<nb::bytes>(image);
              bytes = {reinterpret_cast<const std::uint8_t*>(b.c_str()), b.size()};
            } else if (nb::isinstance<nb::bytearray>(image)) {
              const auto b = nb::borrow<nb::bytearray>(image);
              const auto* data = reinterpret_cast<const std::uint8_t*>(b.c_str());
              owned.assign(data, data + b.size());  // copied under the GIL: another thread may change it
              bytes = owned;
            } else if (is_path(image)) {
              const auto path = nb::cast<fs::path>(image);
              out.image_name = path.filename().string();
              nb::gil_scoped_release release;
              owned = read_file(path);
              bytes = owned;
            } else {
              converted = image_from_array(image);
              source = &converted;
            }
            if (name) out.image_name = *name;
            {
              nb::gil_scoped_release release;
              if (source) {
                out.result = self.detector.predict(*source, options.predict);
              } else {
                const ReducedImage decoded = decode_for_model(bytes, options, /*annotate=*/false);
                out.result = self.detector.predict(decoded, options.predict);
              }
            }
            out.keypoints = self.detector.colormap().keypoints;
            out.skeleton = self.detector.colormap().skeleton;
            out.model_name = self.model_name;
            return out;
          },
          "image"_a, "name"_a = nb::none(), "kwargs"_a,
          "Detect in a path, JPEG/PNG bytes, a kprcnn.Image or a numpy HxWx3 uint8 RGB array. Keyword arguments "
          "are the predict options (threshold=0.8, size=512, divisor=1, fast_decode=False for paths and bytes). "
          "`name` is the JSON's \"image\" (default: a path's file name, else \"\").")
      .def_prop_ro("load_report",
                   [](const PyDetector& self) {
                     const LoadReport& r = self.detector.load_report();
                     nb::dict d;
                     d["engine"] = to_string(r.engine);
                     d["engine_description"] = r.engine_description;
                     d["engine_note"] = r.engine_note;
                     d["load_ms"] = r.load_ms;
                     d["warm_up_ms"] = r.warm_up_ms;
                     d["cache_hit"] = r.cache_hit;
                     d["cache_file"] = r.cache_file.string();
                     d["cache_note"] = r.cache_note;
                     return d;
                   })
      .def_prop_ro("info",
                   [](const PyDetector& self) {
                     const ModelInfo& info = self.detector.info();
                     nb::dict d;
                     d["path"] = info.path.string();
                     nb::list inputs, outputs;
                     for (const auto& t : info.inputs) inputs.append(tensor_dict(t));
                     for (const auto& t : info.outputs) outputs.append(tensor_dict(t));
                     d["inputs"] = inputs;
                     d["outputs"] = outputs;
                     d["metadata"] = info.metadata;
                     d["producer"] = info.producer;
                     d["graph_name"] = info.graph_name;
                     d["opset"] = info.opset;
                     d["num_keypoints"] = info.num_keypoints;
                     return d;
                   })
      .def_prop_ro("engine", [](const PyDetector& self) { return self.detector.load_report().engine_description; })
      .def_prop_ro(
          "keypoints",
          [](const PyDetector& self) {
            std::vector<std::pair<std::string, std::tuple<int, int, int>>> out;
            for (const auto& k : self.detector.colormap().keypoints) {
              out.push_back({k.name, std::make_tuple(int{k.color.r}, int{k.color.g}, int{k.color.b})});
            }
            return out;
          },
          "[(name, (r, g, b)), ...] in model order")
      .def_prop_ro("skeleton", [](const PyDetector& self) { return self.detector.colormap().skeleton; });

  m.def(
      "draw",
      [](nb::handle image, const PyPrediction& prediction, float radius, bool boxes, bool skeleton,
         float line_width) -> nb::object {
        const bool array_in = !nb::isinstance<Image>(image) && !nb::isinstance<nb::bytes>(image) &&
                              !nb::isinstance<nb::bytearray>(image) && !is_path(image);
        Image canvas = load_image(image, nullptr);
        DrawOptions options;
        options.radius = radius;
        options.boxes = boxes;
        options.skeleton = skeleton;
        options.line_width = line_width;
        {
          nb::gil_scoped_release release;
          draw_detections(canvas, prediction.result.detections, prediction.keypoints, options, prediction.skeleton);
        }
        if (array_in) return nb::cast(to_numpy(canvas));
        return nb::cast(std::move(canvas));
      },
      "image"_a, "prediction"_a, nb::kw_only(), "radius"_a = 0.0f, "boxes"_a = false, "skeleton"_a = true,
      "line_width"_a = 0.0f,
      "Annotate a copy of `image` as kprcnn predict draws it. A numpy array in gives a numpy array back, anything "
      "else a kprcnn.Image.");

  m.def(
      "to_coco_json",
      [](const std::vector<std::pair<std::int64_t, const PyPrediction*>>& images) {
        std::vector<CocoImageResult> results;
        for (const auto& [id, p] : images) {
          if (!p) throw nb::type_error("to_coco_json: expected (image_id, Prediction) pairs, got None");
          results.push_back({id, p->result.detections});
        }
        return to_coco_json(results);
      },
      "images"_a, "COCO keypoint results ([(image_id, Prediction), ...]) as kprcnn predict --coco writes them");

  nb::class_<OperatingPoint>(m, "OperatingPoint")
      .def_ro("threshold", &OperatingPoint::threshold)
      .def_ro("precision", &OperatingPoint::precision)
      .def_ro("recall", &OperatingPoint::recall)
      .def_ro("f1", &OperatingPoint::f1)
      .def_ro("mean_error_px", &OperatingPoint::mean_error_px)
      .def_ro("mean_error_rel", &OperatingPoint::mean_error_rel)
      .def_ro("pck_005", &OperatingPoint::pck_005)
      .def_ro("pck_010", &OperatingPoint::pck_010)
      .def_ro("matched", &OperatingPoint::matched);
  nb::class_<CocoEvalResult>(m, "EvalResult")
      .def_ro("keypoints", &CocoEvalResult::keypoints, "COCOeval keypoint stats: AP, AP50, AP75, APm, APl, AR, ...")
      .def_ro("bbox", &CocoEvalResult::bbox, "COCOeval bbox stats: AP, AP50, AP75, APs, APm, APl, AR1, ...")
      .def_ro("operating_point", &CocoEvalResult::operating_point)
      .def_ro("sigmas", &CocoEvalResult::sigmas)
      .def_ro("sigmas_source", &CocoEvalResult::sigmas_source)
      .def_ro("images", &CocoEvalResult::images)
      .def_ro("detections", &CocoEvalResult::detections)
      .def_ro("ground_truths", &CocoEvalResult::ground_truths)
      .def("to_json", [](const CocoEvalResult& r) { return to_json(r); });
  m.def(
      "eval",
      [](const fs::path& annotations, const fs::path& results, std::optional<std::vector<double>> sigmas,
         double threshold) {
        CocoEvalOptions options;
        if (sigmas) options.sigmas = *sigmas;
        options.threshold = threshold;
        nb::gil_scoped_release release;
        return evaluate_coco(annotations, results, options);
      },
      "annotations"_a, "results"_a, nb::kw_only(), "sigmas"_a = nb::none(), "threshold"_a = 0.8,
      "COCO keypoint and box AP of a results file against a ground truth, as pycocotools computes them");
}
