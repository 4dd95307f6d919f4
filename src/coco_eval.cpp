// COCO evaluation as pycocotools' COCOeval computes it (evaluate -> evaluateImg -> accumulate -> summarize), for
// iouType "keypoints" (OKS) and "bbox". Each step follows pycocotools 2.0's code: the comments name the function
// mirrored. nlohmann::json stays inside this file.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "kprcnn/error.h"
#include "kprcnn/eval.h"

namespace kprcnn {
namespace {

using Json = nlohmann::json;

constexpr double kCocoPersonSigmas[17] = {.26, .25, .25,  .35,  .35, .79, .79, .72, .72,
                                          .62, .62, 1.07, 1.07, .87, .87, .89, .89};
const double kEps = std::numeric_limits<double>::epsilon();  // np.spacing(1)

struct Object {
  std::int64_t id = 0, image = 0, category = 0;
  double area = 0, score = 0;
  bool crowd = false, ignore = false;
  std::array<double, 4> bbox{};
  std::vector<double> keypoints;  // x, y, v per keypoint
  int num_keypoints = 0;
};

[[noreturn]] void bad(const std::string& where, const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, where + ": " + what);
}

std::string read_file(const std::filesystem::path& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, std::string("cannot read the ") + what + " file " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error(ErrorCode::kIo, std::string("cannot read the ") + what + " file " + path.string());
  return text.str();
}

Json parse(const std::string& text, const std::string& name) {
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {  // parse_error, and out_of_range for numbers beyond a double (1e400)
    std::string reason = e.what();
    if (const auto p = reason.find("] "); p != std::string::npos) reason = reason.substr(p + 2);
    bad(name, "not valid JSON (" + reason + ")");
  }
}

double number(const Json& obj, const char* key, const std::string& where, bool required = true, double fallback = 0) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) bad(where, std::string("\"") + key + "\" is missing");
    return fallback;
  }
  if (!it->is_number()) bad(where, std::string("\"") + key + "\" must be a number");
  const double v = it->get<double>();
  if (!std::isfinite(v)) bad(where, std::string("\"") + key + "\" is not finite");
  return v;
}

std::int64_t integer(const Json& obj, const char* key, const std::string& where) {
  const auto it = obj.find(key);
  if (it == obj.end()) bad(where, std::string("\"") + key + "\" is missing");
  if (!it->is_number_integer()) bad(where, std::string("\"") + key + "\" must be an integer");
  return it->get<std::int64_t>();
}

std::vector<double> numbers(const Json& value, const std::string& where, const char* key) {
  if (!value.is_array()) bad(where, std::string("\"") + key + "\" must be a list of numbers");
  std::vector<double> out;
  out.reserve(value.size());
  for (const auto& v : value) {
    if (!v.is_number()) bad(where, std::string("\"") + key + "\" must be a list of numbers");
    const double d = v.get<double>();
    if (!std::isfinite(d)) bad(where, std::string("\"") + key + "\" holds a NaN or infinite value");
    out.push_back(d);
  }
  return out;
}

// An [x, y, width, height] box of non-negative size.
std::array<double, 4> read_box(const Json& obj, const std::string& where, const char* missing) {
  const auto bb = obj.find("bbox");
  if (bb == obj.end()) bad(where, missing);
  const auto box = numbers(*bb, where, "bbox");
  if (box.size() != 4) bad(where, "\"bbox\" must be [x, y, width, height]");
  if (box[2] < 0 || box[3] < 0) bad(where, "\"bbox\" has a negative width or height");
  return {box[0], box[1], box[2], box[3]};
}

struct Dataset {
  std::vector<std::int64_t> images;      // sorted
  std::vector<std::int64_t> categories;  // sorted
  std::vector<Object> gts;               // in file order
  std::vector<Object> dts;               // in file order, ids 1..N
  std::size_t num_keypoints = 0;
  std::vector<double> recorded_sigmas;
};

void read_ground_truth(const Json& doc, const std::string& name, Dataset& data) {
  if (!doc.is_object()) bad(name, "expected a JSON object with images, annotations and categories");
  for (const char* key : {"images", "annotations", "categories"}) {
    if (!doc.contains(key) || !doc[key].is_array()) bad(name, std::string("\"") + key + "\" is missing or not a list");
  }
  std::set<std::int64_t> images, categories, ids;
  std::size_t i = 0;
  for (const auto& im : doc["images"]) {
    const std::string where = name + ": images[" + std::to_string(i++) + "]";
    if (!im.is_object()) bad(where, "expected an object");
    if (!images.insert(integer(im, "id", where)).second) bad(where, "duplicate image id");
  }
  i = 0;
  for (const auto& cat : doc["categories"]) {
    const std::string where = name + ": categories[" + std::to_string(i++) + "]";
    if (!cat.is_object()) bad(where, "expected an object");
    if (!categories.insert(integer(cat, "id", where)).second) bad(where, "duplicate category id");
    if (const auto kp = cat.find("keypoints"); kp != cat.end()) {
      if (!kp->is_array()) bad(where, "\"keypoints\" must be a list of names");
      if (data.num_keypoints != 0 && kp->size() != data.num_keypoints) {
        bad(where, "its keypoint count differs from the first category's");
      }
      data.num_keypoints = kp->size();
    }
    if (const auto s = cat.find("kprcnn_oks_sigmas"); s != cat.end() && data.recorded_sigmas.empty()) {
      data.recorded_sigmas = numbers(*s, where, "kprcnn_oks_sigmas");
    }
  }
  i = 0;
  for (const auto& ann : doc["annotations"]) {
    const std::string where = name + ": annotations[" + std::to_string(i++) + "]";
    if (!ann.is_object()) bad(where, "expected an object");
    Object g;
    g.id = integer(ann, "id", where);
    if (!ids.insert(g.id).second) bad(where, "duplicate annotation id " + std::to_string(g.id));
    g.image = integer(ann, "image_id", where);
    if (!images.count(g.image)) bad(where, "image_id " + std::to_string(g.image) + " is not in images");
    g.category = integer(ann, "category_id", where);
    if (!categories.count(g.category))
      bad(where, "category_id " + std::to_string(g.category) + " is not in categories");
    g.bbox = read_box(ann, where, "\"bbox\" is missing");
    g.area = number(ann, "area", where);
    if (g.area < 0) bad(where, "\"area\" is negative");
    const auto crowd = ann.find("iscrowd");
    if (crowd != ann.end() && !crowd->is_number_integer() && !crowd->is_boolean())
      bad(where, "\"iscrowd\" must be 0 or 1");
    g.crowd = crowd != ann.end() && (crowd->is_boolean() ? crowd->get<bool>() : crowd->get<std::int64_t>() != 0);
    if (const auto kp = ann.find("keypoints"); kp != ann.end()) {
      g.keypoints = numbers(*kp, where, "keypoints");
      if (g.keypoints.size() != 3 * data.num_keypoints) {
        bad(where, "\"keypoints\" has " + std::to_string(g.keypoints.size()) + " numbers, expected " +
                       std::to_string(3 * data.num_keypoints) + " (x, y, v per keypoint of the category)");
      }
      g.num_keypoints = static_cast<int>(integer(ann, "num_keypoints", where));
    }
    data.gts.push_back(std::move(g));
  }
  data.images.assign(images.begin(), images.end());
  data.categories.assign(categories.begin(), categories.end());
}

// COCO.loadRes: area and bbox from the first entry's kind (bbox present -> every area is w * h).
void read_results(const Json& doc, const std::string& name, Dataset& data) {
  if (!doc.is_array()) bad(name, "expected a list of results (what kprcnn predict --coco writes)");
  const std::set<std::int64_t> images(data.images.begin(), data.images.end());
  const std::set<std::int64_t> categories(data.categories.begin(), data.categories.end());
  const bool by_box = !doc.empty() && doc[0].is_object() && doc[0].contains("bbox") && doc[0]["bbox"].is_array() &&
                      !doc[0]["bbox"].empty();
  std::size_t i = 0;
  for (const auto& r : doc) {
    const std::string where = name + "[" + std::to_string(i) + "]";
    if (!r.is_object()) bad(where, "expected an object");
    Object d;
    d.id = static_cast<std::int64_t>(++i);
    d.image = integer(r, "image_id", where);
    if (!images.count(d.image)) bad(where, "image_id " + std::to_string(d.image) + " is not in the ground truth");
    d.category = integer(r, "category_id", where);
    if (!categories.count(d.category)) {
      bad(where, "category_id " + std::to_string(d.category) + " is not in the ground truth");
    }
    d.score = number(r, "score", where);
    if (const auto kp = r.find("keypoints"); kp != r.end()) {
      d.keypoints = numbers(*kp, where, "keypoints");
      if (d.keypoints.size() != 3 * data.num_keypoints) {
        bad(where, "\"keypoints\" has " + std::to_string(d.keypoints.size()) + " numbers, expected " +
                       std::to_string(3 * data.num_keypoints));
      }
    }
    if (by_box) {
      d.bbox = read_box(r, where, "\"bbox\" is missing (the first result has one, so every result needs one)");
      d.area = d.bbox[2] * d.bbox[3];
    } else {
      if (d.keypoints.empty()) bad(where, "neither \"bbox\" nor \"keypoints\"");
      double x0 = d.keypoints[0], x1 = x0, y0 = d.keypoints[1], y1 = y0;
      for (std::size_t k = 0; k < d.keypoints.size(); k += 3) {
        x0 = std::min(x0, d.keypoints[k]);
        x1 = std::max(x1, d.keypoints[k]);
        y0 = std::min(y0, d.keypoints[k + 1]);
        y1 = std::max(y1, d.keypoints[k + 1]);
      }
      d.area = (x1 - x0) * (y1 - y0);
      d.bbox = {x0, y0, x1 - x0, y1 - y0};
    }
    data.dts.push_back(std::move(d));
  }
}

// computeOks for one detection and one ground truth (pycocotools' order of operations).
double object_keypoint_similarity(const Object& d, const Object& g, const std::vector<double>& sigmas) {
  const std::size_t K = sigmas.size();
  int k1 = 0;
  for (std::size_t k = 0; k < K; ++k) k1 += g.keypoints[3 * k + 2] > 0;
  const auto& bb = g.bbox;
  const double x0 = bb[0] - bb[2], x1 = bb[0] + bb[2] * 2, y0 = bb[1] - bb[3], y1 = bb[1] + bb[3] * 2;
  double sum = 0;
  int count = 0;
  for (std::size_t k = 0; k < K; ++k) {
    const double xg = g.keypoints[3 * k], yg = g.keypoints[3 * k + 1], vg = g.keypoints[3 * k + 2];
    const double xd = d.keypoints[3 * k], yd = d.keypoints[3 * k + 1];
    double dx, dy;
    if (k1 > 0) {
      dx = xd - xg;
      dy = yd - yg;
    } else {
      dx = std::max(0.0, x0 - xd) + std::max(0.0, xd - x1);
      dy = std::max(0.0, y0 - yd) + std::max(0.0, yd - y1);
    }
    const double var = (sigmas[k] * 2) * (sigmas[k] * 2);
    const double e = (dx * dx + dy * dy) / var / (g.area + kEps) / 2;
    if (k1 > 0 && !(vg > 0)) continue;
    sum += std::exp(-e);
    ++count;
  }
  return count ? sum / count : 0.0;
}

// The operating point: detections scoring above ``threshold`` (kprcnn predict's rule), matched greedily in score
// order to the unmatched ground truth of the same image and category with the highest OKS, if >= 0.5. Crowd and
// unlabelled ground truth cannot be matched; a detection that would match one is neither true nor false.
OperatingPoint operating_point(const Dataset& data, const std::vector<double>& sigmas, double threshold) {
  std::map<std::pair<std::int64_t, std::int64_t>, std::vector<const Object*>> gts, dts;
  for (const auto& g : data.gts) gts[{g.image, g.category}].push_back(&g);
  for (const auto& d : data.dts) {
    if (d.score > threshold) dts[{d.image, d.category}].push_back(&d);
  }
  std::size_t positives = 0, counted = 0, tp = 0, keypoints = 0, within_05 = 0, within_10 = 0;
  double error_px = 0, error_rel = 0;
  for (const auto& [key, list] : gts) {
    for (const Object* g : list) positives += !(g->crowd || g->num_keypoints == 0);
  }
  for (auto& [key, list] : dts) {
    std::stable_sort(list.begin(), list.end(), [](const Object* a, const Object* b) { return a->score > b->score; });
    const auto it = gts.find(key);
    const std::vector<const Object*> none;
    const auto& g = it == gts.end() ? none : it->second;
    std::vector<bool> used(g.size(), false);
    for (const Object* d : list) {
      long best = -1, ignored = -1;
      double best_oks = 0.5;
      for (std::size_t j = 0; j < g.size(); ++j) {
        const double o = object_keypoint_similarity(*d, *g[j], sigmas);
        if (g[j]->crowd || g[j]->num_keypoints == 0) {
          if (o >= 0.5) ignored = static_cast<long>(j);
          continue;
        }
        if (!used[j] && o >= best_oks) best_oks = o, best = static_cast<long>(j);
      }
      if (best < 0) {
        counted += ignored < 0;  // a false positive, unless it covers an ignored region
        continue;
      }
      ++counted;
      ++tp;
      const Object& m = *g[static_cast<std::size_t>(best)];
      used[static_cast<std::size_t>(best)] = true;
      const double size = std::sqrt(m.bbox[2] * m.bbox[3]);
      for (std::size_t k = 0; k < sigmas.size(); ++k) {
        if (!(m.keypoints[3 * k + 2] > 0)) continue;
        const double dist =
            std::hypot(d->keypoints[3 * k] - m.keypoints[3 * k], d->keypoints[3 * k + 1] - m.keypoints[3 * k + 1]);
        ++keypoints;
        error_px += dist;
        error_rel += size > 0 ? dist / size : 0.0;
        within_05 += dist <= 0.05 * size;
        within_10 += dist <= 0.1 * size;
      }
    }
  }
  OperatingPoint op;
  op.threshold = threshold;
  op.precision = counted ? static_cast<double>(tp) / static_cast<double>(counted) : -1.0;
  op.recall = positives ? static_cast<double>(tp) / static_cast<double>(positives) : -1.0;
  op.f1 = (op.precision < 0 || op.recall < 0) ? -1.0
          : (op.precision + op.recall > 0)    ? 2 * op.precision * op.recall / (op.precision + op.recall)
                                              : 0.0;
  const double n = static_cast<double>(keypoints);
  op.mean_error_px = keypoints ? error_px / n : -1.0;
  op.mean_error_rel = keypoints ? error_rel / n : -1.0;
  op.pck_005 = keypoints ? static_cast<double>(within_05) / n : -1.0;
  op.pck_010 = keypoints ? static_cast<double>(within_10) / n : -1.0;
  op.matched = static_cast<int>(tp);
  return op;
}

// np.linspace(start, stop, num): i * step + start, the last one exactly stop.
std::vector<double> linspace(double start, double stop, int num) {
  std::vector<double> v(static_cast<std::size_t>(num));
  const double step = (stop - start) / (num - 1);
  for (int i = 0; i < num; ++i) v[static_cast<std::size_t>(i)] = i * step + start;
  v.back() = stop;
  return v;
}

struct Params {
  bool keypoints = true;
  std::vector<double> iou_thrs = linspace(.5, 0.95, 10);
  std::vector<double> rec_thrs = linspace(.0, 1.00, 101);
  std::vector<int> max_dets;
  std::vector<std::array<double, 2>> area_rng;
  std::vector<double> sigmas;
};

struct ImageEval {
  bool present = false;
  std::vector<double> dt_scores;
  std::vector<std::vector<std::int64_t>> dt_matches;  // [T][D]
  std::vector<std::vector<bool>> dt_ignore;           // [T][D]
  std::vector<bool> gt_ignore;
};

// Indices of ``objects`` in a stable sort by descending score (np.argsort(-scores, kind="mergesort")).
std::vector<std::size_t> by_score(const std::vector<const Object*>& objects) {
  std::vector<std::size_t> order(objects.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return -objects[a]->score < -objects[b]->score; });
  return order;
}

class Evaluator {
 public:
  Evaluator(const Dataset& data, Params params) : data_(data), p_(std::move(params)) {
    for (const auto& g : data_.gts) gts_[{g.image, g.category}].push_back(&g);
    for (const auto& d : data_.dts) dts_[{d.image, d.category}].push_back(&d);
    // _prepare: ignore = iscrowd (an "ignore" field is overridden); keypoints: also num_keypoints == 0.
    for (auto& [key, list] : gts_) {
      for (const Object* g : list) ignore_[g] = g->crowd || (p_.keypoints && g->num_keypoints == 0);
    }
  }

  std::vector<double> run() {
    const int max_det = p_.max_dets.back();
    std::map<std::pair<std::int64_t, std::int64_t>, std::vector<std::vector<double>>> ious;
    for (const auto image : data_.images) {
      for (const auto cat : data_.categories) ious[{image, cat}] = compute_iou(image, cat);
    }
    // evaluate(): catIds x areaRng x imgIds
    const std::size_t K = data_.categories.size(), A = p_.area_rng.size(), I = data_.images.size();
    evals_.assign(K * A * I, {});
    for (std::size_t k = 0; k < K; ++k) {
      for (std::size_t a = 0; a < A; ++a) {
        for (std::size_t i = 0; i < I; ++i) {
          const auto key = std::make_pair(data_.images[i], data_.categories[k]);
          evals_[(k * A + a) * I + i] = evaluate_image(key, ious[key], p_.area_rng[a], max_det);
        }
      }
    }
    accumulate();
    return summarize();
  }

 private:
  std::vector<const Object*> gt(std::pair<std::int64_t, std::int64_t> key) const {
    const auto it = gts_.find(key);
    return it == gts_.end() ? std::vector<const Object*>{} : it->second;
  }
  std::vector<const Object*> dt(std::pair<std::int64_t, std::int64_t> key) const {
    const auto it = dts_.find(key);
    return it == dts_.end() ? std::vector<const Object*>{} : it->second;
  }

  // computeIoU / computeOks: rows = detections sorted by score (cut at maxDets[-1]), columns = ground truths.
  std::vector<std::vector<double>> compute_iou(std::int64_t image, std::int64_t cat) const {
    const auto g = gt({image, cat});
    auto d = dt({image, cat});
    if (g.empty() || d.empty()) return {};
    std::vector<const Object*> sorted;
    for (const auto i : by_score(d)) sorted.push_back(d[i]);
    if (sorted.size() > static_cast<std::size_t>(p_.max_dets.back()))
      sorted.resize(static_cast<std::size_t>(p_.max_dets.back()));
    std::vector<std::vector<double>> out(sorted.size(), std::vector<double>(g.size(), 0.0));
    for (std::size_t j = 0; j < g.size(); ++j) {
      for (std::size_t i = 0; i < sorted.size(); ++i)
        out[i][j] = p_.keypoints ? oks(*sorted[i], *g[j]) : box_iou(*sorted[i], *g[j]);
    }
    return out;
  }

  double oks(const Object& d, const Object& g) const { return object_keypoint_similarity(d, g, p_.sigmas); }

  static double box_iou(const Object& d, const Object& g) {
    // maskUtils.iou on [x, y, w, h] boxes (rleBbIou): crowd ground truth -> intersection over the detection.
    const auto& db = d.bbox;
    const auto& gb = g.bbox;
    const double w = std::min(db[2] + db[0], gb[2] + gb[0]) - std::max(db[0], gb[0]);
    if (w <= 0) return 0.0;
    const double h = std::min(db[3] + db[1], gb[3] + gb[1]) - std::max(db[1], gb[1]);
    if (h <= 0) return 0.0;
    const double i = w * h, ca = db[2] * db[3], cb = gb[2] * gb[3];
    const double u = g.crowd ? ca : ca + cb - i;
    return i / u;
  }

  // evaluateImg
  ImageEval evaluate_image(std::pair<std::int64_t, std::int64_t> key, const std::vector<std::vector<double>>& ious,
                           std::array<double, 2> rng, int max_det) const {
    ImageEval e;
    auto g = gt(key);
    auto d = dt(key);
    if (g.empty() && d.empty()) return e;
    e.present = true;
    std::vector<int> g_ignore(g.size());
    for (std::size_t j = 0; j < g.size(); ++j) {
      g_ignore[j] = ignore_.at(g[j]) || g[j]->area < rng[0] || g[j]->area > rng[1];
    }
    std::vector<std::size_t> gind(g.size());
    std::iota(gind.begin(), gind.end(), 0);
    std::stable_sort(gind.begin(), gind.end(), [&](std::size_t a, std::size_t b) { return g_ignore[a] < g_ignore[b]; });
    const auto dind = by_score(d);
    std::vector<const Object*> dts;
    for (const auto i : dind) dts.push_back(d[i]);
    if (dts.size() > static_cast<std::size_t>(max_det)) dts.resize(static_cast<std::size_t>(max_det));
    const std::size_t T = p_.iou_thrs.size(), G = g.size(), D = dts.size();
    std::vector<std::vector<std::int64_t>> gtm(T, std::vector<std::int64_t>(G, 0));
    e.dt_matches.assign(T, std::vector<std::int64_t>(D, 0));
    e.dt_ignore.assign(T, std::vector<bool>(D, false));
    std::vector<int> gt_ig(G);
    for (std::size_t j = 0; j < G; ++j) gt_ig[j] = g_ignore[gind[j]];
    if (!ious.empty() && G > 0) {
      for (std::size_t t = 0; t < T; ++t) {
        for (std::size_t di = 0; di < D; ++di) {
          double iou = std::min(p_.iou_thrs[t], 1 - 1e-10);
          long m = -1;
          for (std::size_t gi = 0; gi < G; ++gi) {
            const Object* gg = g[gind[gi]];
            if (gtm[t][gi] > 0 && !gg->crowd) continue;
            if (m > -1 && gt_ig[static_cast<std::size_t>(m)] == 0 && gt_ig[gi] == 1) break;
            const double v = ious[di][gind[gi]];
            if (v < iou) continue;
            iou = v;
            m = static_cast<long>(gi);
          }
          if (m == -1) continue;
          const auto mm = static_cast<std::size_t>(m);
          e.dt_ignore[t][di] = gt_ig[mm] != 0;
          e.dt_matches[t][di] = g[gind[mm]]->id;
          gtm[t][mm] = dts[di]->id;
        }
      }
    }
    for (std::size_t t = 0; t < T; ++t) {
      for (std::size_t di = 0; di < D; ++di) {
        const bool outside = dts[di]->area < rng[0] || dts[di]->area > rng[1];
        e.dt_ignore[t][di] = e.dt_ignore[t][di] || (e.dt_matches[t][di] == 0 && outside);
      }
    }
    for (const auto* o : dts) e.dt_scores.push_back(o->score);
    for (std::size_t j = 0; j < G; ++j) e.gt_ignore.push_back(gt_ig[j] != 0);
    return e;
  }

  // accumulate: precision [T][R][K][A][M], recall [T][K][A][M], -1 where undefined.
  void accumulate() {
    const std::size_t T = p_.iou_thrs.size(), R = p_.rec_thrs.size(), K = data_.categories.size(),
                      A = p_.area_rng.size(), M = p_.max_dets.size(), I = data_.images.size();
    precision_.assign(T * R * K * A * M, -1.0);
    recall_.assign(T * K * A * M, -1.0);
    for (std::size_t k = 0; k < K; ++k) {
      for (std::size_t a = 0; a < A; ++a) {
        for (std::size_t m = 0; m < M; ++m) {
          const auto max_det = static_cast<std::size_t>(p_.max_dets[m]);
          std::vector<const ImageEval*> E;
          for (std::size_t i = 0; i < I; ++i) {
            const auto& e = evals_[(k * A + a) * I + i];
            if (e.present) E.push_back(&e);
          }
          if (E.empty()) continue;
          std::vector<double> scores;
          std::vector<std::pair<std::size_t, std::size_t>> origin;  // (image eval, detection)
          for (std::size_t x = 0; x < E.size(); ++x) {
            for (std::size_t di = 0; di < std::min(max_det, E[x]->dt_scores.size()); ++di) {
              scores.push_back(E[x]->dt_scores[di]);
              origin.emplace_back(x, di);
            }
          }
          std::vector<std::size_t> inds(scores.size());
          std::iota(inds.begin(), inds.end(), 0);
          std::stable_sort(inds.begin(), inds.end(),
                           [&](std::size_t u, std::size_t v) { return -scores[u] < -scores[v]; });
          std::size_t npig = 0;
          for (const auto* e : E)
            npig += static_cast<std::size_t>(std::count(e->gt_ignore.begin(), e->gt_ignore.end(), false));
          if (npig == 0) continue;
          for (std::size_t t = 0; t < T; ++t) {
            std::vector<double> tp, fp;
            double tp_sum = 0, fp_sum = 0;
            for (const auto idx : inds) {
              const auto [x, di] = origin[idx];
              const bool matched = E[x]->dt_matches[t][di] != 0, ignored = E[x]->dt_ignore[t][di];
              tp_sum += (matched && !ignored) ? 1 : 0;
              fp_sum += (!matched && !ignored) ? 1 : 0;
              tp.push_back(tp_sum);
              fp.push_back(fp_sum);
            }
            const std::size_t nd = tp.size();
            std::vector<double> rc(nd), pr(nd);
            for (std::size_t n = 0; n < nd; ++n) {
              rc[n] = tp[n] / static_cast<double>(npig);
              pr[n] = tp[n] / (fp[n] + tp[n] + kEps);
            }
            recall_[((t * K + k) * A + a) * M + m] = nd ? rc[nd - 1] : 0.0;
            for (std::size_t n = nd; n-- > 1;) {
              if (pr[n] > pr[n - 1]) pr[n - 1] = pr[n];
            }
            for (std::size_t r = 0; r < R; ++r) {
              // np.searchsorted(rc, recThrs, side="left"); q stays 0 past the end
              const auto pi =
                  static_cast<std::size_t>(std::lower_bound(rc.begin(), rc.end(), p_.rec_thrs[r]) - rc.begin());
              precision_[(((t * R + r) * K + k) * A + a) * M + m] = pi < nd ? pr[pi] : 0.0;
            }
          }
        }
      }
    }
  }

  // _summarize(ap, iouThr, areaRng index, maxDets value)
  double summarize_one(bool ap, double iou_thr, std::size_t a, int max_dets) const {
    const std::size_t T = p_.iou_thrs.size(), R = p_.rec_thrs.size(), K = data_.categories.size(),
                      A = p_.area_rng.size(), M = p_.max_dets.size();
    const auto m =
        static_cast<std::size_t>(std::find(p_.max_dets.begin(), p_.max_dets.end(), max_dets) - p_.max_dets.begin());
    double sum = 0;
    std::size_t n = 0;
    for (std::size_t t = 0; t < T; ++t) {
      if (iou_thr >= 0 && p_.iou_thrs[t] != iou_thr) continue;
      for (std::size_t k = 0; k < K; ++k) {
        if (ap) {
          for (std::size_t r = 0; r < R; ++r) {
            const double v = precision_[(((t * R + r) * K + k) * A + a) * M + m];
            if (v > -1) sum += v, ++n;
          }
        } else {
          const double v = recall_[((t * K + k) * A + a) * M + m];
          if (v > -1) sum += v, ++n;
        }
      }
    }
    return n ? sum / static_cast<double>(n) : -1.0;
  }

  std::vector<double> summarize() const {
    std::vector<double> s;
    if (p_.keypoints) {
      for (const bool ap : {true, false}) {
        s.push_back(summarize_one(ap, -1, 0, 20));
        s.push_back(summarize_one(ap, .5, 0, 20));
        s.push_back(summarize_one(ap, .75, 0, 20));
        s.push_back(summarize_one(ap, -1, 1, 20));
        s.push_back(summarize_one(ap, -1, 2, 20));
      }
    } else {
      s = {summarize_one(true, -1, 0, 100),  summarize_one(true, .5, 0, 100),  summarize_one(true, .75, 0, 100),
           summarize_one(true, -1, 1, 100),  summarize_one(true, -1, 2, 100),  summarize_one(true, -1, 3, 100),
           summarize_one(false, -1, 0, 1),   summarize_one(false, -1, 0, 10),  summarize_one(false, -1, 0, 100),
           summarize_one(false, -1, 1, 100), summarize_one(false, -1, 2, 100), summarize_one(false, -1, 3, 100)};
    }
    return s;
  }

  const Dataset& data_;
  Params p_;
  std::map<std::pair<std::int64_t, std::int64_t>, std::vector<const Object*>> gts_, dts_;
  std::map<const Object*, bool> ignore_;
  std::vector<ImageEval> evals_;
  std::vector<double> precision_, recall_;
};

}  // namespace

CocoEvalResult evaluate_coco_json(const std::string& annotations_json, const std::string& results_json,
                                  const CocoEvalOptions& options, const std::string& annotations_name,
                                  const std::string& results_name) {
  Dataset data;
  read_ground_truth(parse(annotations_json, annotations_name), annotations_name, data);
  read_results(parse(results_json, results_name), results_name, data);
  CocoEvalResult result;
  result.images = static_cast<int>(data.images.size());
  result.detections = static_cast<int>(data.dts.size());
  result.ground_truths = static_cast<int>(data.gts.size());
  const std::size_t K = data.num_keypoints;
  if (!options.sigmas.empty()) {
    result.sigmas = options.sigmas, result.sigmas_source = "--sigmas";
  } else if (!data.recorded_sigmas.empty()) {
    result.sigmas = data.recorded_sigmas, result.sigmas_source = "kprcnn_oks_sigmas";
  } else if (K == 17) {
    for (const double s : kCocoPersonSigmas) result.sigmas.push_back(s / 10.0);
    result.sigmas_source = "COCO person";
  } else {
    result.sigmas.assign(K, kDefaultOksSigma), result.sigmas_source = "default";
  }
  if (result.sigmas.size() != K) {
    throw Error(ErrorCode::kInvalidArgument, std::to_string(result.sigmas.size()) + " OKS sigmas (" +
                                                 result.sigmas_source + ") for " + std::to_string(K) +
                                                 " keypoints: give one sigma per keypoint");
  }
  for (const double s : result.sigmas) {
    if (!(s > 0) || !std::isfinite(s)) throw Error(ErrorCode::kInvalidArgument, "OKS sigmas must be positive numbers");
  }
  const bool have_keypoints =
      K > 0 && std::all_of(data.dts.begin(), data.dts.end(), [](const Object& d) { return !d.keypoints.empty(); });
  const double big = 1e5 * 1e5;
  if (have_keypoints) {
    for (const auto& g : data.gts) {
      if (g.keypoints.empty()) {
        throw Error(ErrorCode::kInvalidArgument,
                    annotations_name + ": annotation id " + std::to_string(g.id) + " has no \"keypoints\"");
      }
    }
    Params p;
    p.keypoints = true;
    p.max_dets = {20};
    p.area_rng = {{0, big}, {32 * 32, 96 * 96}, {96 * 96, big}};
    p.sigmas = result.sigmas;
    const auto s = Evaluator(data, p).run();
    std::copy(s.begin(), s.end(), result.keypoints.begin());
    result.operating_point = operating_point(data, result.sigmas, options.threshold);
  } else {
    result.keypoints.fill(-1.0);
  }
  Params p;
  p.keypoints = false;
  p.max_dets = {1, 10, 100};
  p.area_rng = {{0, big}, {0, 32 * 32}, {32 * 32, 96 * 96}, {96 * 96, big}};
  const auto s = Evaluator(data, p).run();
  std::copy(s.begin(), s.end(), result.bbox.begin());
  return result;
}

CocoEvalResult evaluate_coco(const std::filesystem::path& annotations, const std::filesystem::path& results,
                             const CocoEvalOptions& options) {
  return evaluate_coco_json(read_file(annotations, "annotation"), read_file(results, "results"), options,
                            annotations.string(), results.string());
}

std::vector<CocoImage> read_coco_images(const std::filesystem::path& annotations) {
  return read_coco_images_json(read_file(annotations, "annotation"), annotations.string());
}

std::vector<CocoImage> read_coco_images_json(const std::string& annotations_json, const std::string& name) {
  const Json doc = parse(annotations_json, name);
  Dataset data;
  read_ground_truth(doc, name, data);
  std::vector<CocoImage> images;
  std::set<std::string> names;
  std::size_t i = 0;
  for (const auto& im : doc["images"]) {
    const std::string where = name + ": images[" + std::to_string(i++) + "]";
    const auto file = im.find("file_name");
    if (file == im.end() || !file->is_string() || file->get<std::string>().empty()) {
      bad(where, "\"file_name\" is missing or not a string (the image to run the model on)");
    }
    CocoImage image;
    image.id = integer(im, "id", where);
    image.file_name = file->get<std::string>();
    if (!names.insert(image.file_name).second) bad(where, "duplicate file_name " + image.file_name);
    for (auto [key, out] : {std::pair{"width", &image.width}, std::pair{"height", &image.height}}) {
      if (const auto v = im.find(key); v != im.end()) {
        if (!v->is_number_integer() || v->get<std::int64_t>() <= 0 || v->get<std::int64_t>() > (1 << 20)) {
          bad(where, std::string("\"") + key + "\" must be a positive integer");
        }
        *out = static_cast<int>(v->get<std::int64_t>());
      }
    }
    images.push_back(std::move(image));
  }
  return images;
}

std::string to_json(const CocoEvalResult& r) {
  nlohmann::ordered_json doc;
  const char* kp[] = {"AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"};
  const char* bb[] = {"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"};
  for (std::size_t i = 0; i < r.keypoints.size(); ++i) doc["keypoints"][kp[i]] = r.keypoints[i];
  for (std::size_t i = 0; i < r.bbox.size(); ++i) doc["bbox"][bb[i]] = r.bbox[i];
  const auto& op = r.operating_point;
  doc["operating_point"] = {{"threshold", op.threshold},
                            {"precision", op.precision},
                            {"recall", op.recall},
                            {"f1", op.f1},
                            {"mean_error_px", op.mean_error_px},
                            {"mean_error_rel", op.mean_error_rel},
                            {"pck_0.05", op.pck_005},
                            {"pck_0.1", op.pck_010}};
  doc["images"] = r.images;
  doc["detections"] = r.detections;
  return doc.dump(2) + "\n";
}

}  // namespace kprcnn
