// examples/detect — the smallest complete use of kprcnn: load a model, detect keypoints in one image, draw them,
// write the annotated image and print the result as JSON.
//
//   detect MODEL.onnx IMAGE OUT.png [threshold]
//
// Every failure is a kprcnn::Error whose message says what to do; its code() tells the kind (here: exit 1).
#include <kprcnn/kprcnn.h>

#include <cstdio>
#include <cstdlib>
#include <string>

static int detect(const char* model_path, const char* image_path, const char* out_path, float threshold) {
  kprcnn::DetectorOptions options;  // engine auto: OpenVINO when its plugin loads, else ONNX Runtime
  kprcnn::Detector detector(model_path, options);

  kprcnn::Image image = kprcnn::read_image(image_path);  // JPEG or PNG, EXIF orientation applied
  kprcnn::PredictOptions predict;
  predict.threshold = threshold;  // keep detections scoring above it (0.8 by default)
  const kprcnn::Prediction prediction = detector.predict(image, predict);

  kprcnn::annotate(image, prediction, detector);  // the recipe's coloured circles (kprcnn/pipeline.h)
  kprcnn::write_image(image, out_path);           // encoded by extension, written atomically

  std::printf("%s\n", kprcnn::to_json(prediction, detector.colormap().keypoints, image_path, model_path).c_str());
  std::fprintf(stderr, "%zu detections; engine: %s\n", prediction.detections.size(),
               detector.load_report().engine_description.c_str());
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 4 || argc > 5) {
    std::fprintf(stderr, "usage: %s MODEL.onnx IMAGE OUT.png [threshold]   (kprcnn %s)\n", argv[0],
                 KPRCNN_VERSION_STRING);
    return 2;
  }
  try {
    return detect(argv[1], argv[2], argv[3], argc == 5 ? std::strtof(argv[4], nullptr) : 0.8f);
  } catch (const kprcnn::Error& e) {
    std::fprintf(stderr, "error (%s): %s\n", kprcnn::to_string(e.code()), e.what());
    return 1;
  }
}
