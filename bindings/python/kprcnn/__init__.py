"""kprcnn: run exported torchvision Keypoint R-CNN models (kprcnn export) on ONNX Runtime or OpenVINO.

    import kprcnn
    detector = kprcnn.Detector("face-face.onnx", engine="auto", threads=2)
    prediction = detector.predict("photo.jpg", threshold=0.8, size=512)
    for d in prediction.detections:
        print(d.label, d.score, d.box, d.keypoints)   # keypoints: K x 3 float32 (x, y, score)
    open("photo.json", "w").write(prediction.to_json())  # the document `kprcnn predict` writes
    kprcnn.draw(kprcnn.read_image("photo.jpg"), prediction).save("photo.png")

The compiled part (_kprcnn) is the C++ library itself; README "Python module" documents the API, the errors
(kprcnn.Error, a RuntimeError whose .code is "io", "image_decode", "invalid_argument", ...) and threads
(predict releases the GIL; one Detector serves many threads).
"""

from ._kprcnn import (  # noqa: F401
    Detection,
    Detector,
    Error,
    EvalResult,
    Image,
    OperatingPoint,
    Prediction,
    __version__,
    available_providers,
    decode_image,
    draw,
    eval,
    onnxruntime_version,
    openvino_unavailable_reason,
    openvino_version,
    options,
    read_image,
    to_coco_json,
)

__all__ = [
    "Detection", "Detector", "Error", "EvalResult", "Image", "OperatingPoint", "Prediction", "__version__",
    "available_providers", "decode_image", "draw", "eval", "onnxruntime_version", "openvino_unavailable_reason",
    "openvino_version", "options", "read_image", "to_coco_json",
]
