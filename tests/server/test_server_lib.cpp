// The server library linked directly (no CLI, no subprocess): start on a free port, answer, drain, stop; and a
// model that fails to load. Models come from tests/server/fake_models.py (ctest fixture server_models).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "kprcnn/detector.h"
#include "kprcnn/error.h"
#include "server.h"

namespace kprcnn::server {
namespace {

std::filesystem::path model_dir() {
  const char* dir = std::getenv("KPRCNN_SERVER_TEST_MODELS");
  return dir ? dir : "";
}

// One HTTP/1.1 exchange on a fresh connection; returns the status code (0 when nothing came back).
int http_status(int port, const std::string& request, std::string* response = nullptr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return 0;
  }
  std::string out;
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (response) *response = out;
  return out.rfind("HTTP/1.1 ", 0) == 0 ? std::atoi(out.c_str() + 9) : 0;
}

std::string get(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
}

ServerOptions options_for(const std::filesystem::path& model) {
  ServerOptions o;
  o.model = model;
  o.port = 0;
  o.queue = 2;
  return o;
}

TEST(ServerLib, ServesDrainsAndStops) {
  if (model_dir().empty()) GTEST_SKIP() << "KPRCNN_SERVER_TEST_MODELS not set";
  Server server(options_for(model_dir() / "bright.onnx"));
  server.start();
  ASSERT_GT(server.port(), 0);
  EXPECT_EQ(http_status(server.port(), get("/healthz")), 200);  // alive while loading too
  ASSERT_EQ(server.wait_loaded(std::chrono::seconds(30)), State::kReady);
  EXPECT_EQ(http_status(server.port(), get("/readyz")), 200);
  std::string response;
  EXPECT_EQ(http_status(server.port(),
                        "POST /v1/predict HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 4\r\n\r\nnope",
                        &response),
            400);
  EXPECT_NE(response.find("\"image_decode\""), std::string::npos) << response;
  EXPECT_EQ(http_status(server.port(), get("/nowhere")), 404);

  server.begin_drain();
  EXPECT_EQ(server.state(), State::kDraining);
  EXPECT_EQ(http_status(server.port(), get("/readyz")), 503);
  EXPECT_EQ(http_status(server.port(), get("/healthz")), 200);
  EXPECT_EQ(server.wait_drained(std::chrono::seconds(5)), 0);
  server.stop();
  EXPECT_EQ(server.state(), State::kStopped);
  EXPECT_EQ(http_status(server.port(), get("/healthz")), 0);  // the listener is closed
  server.stop();                                              // idempotent
}

TEST(ServerLib, ModelLoadFailureIsReportedNeverReady) {
  if (model_dir().empty()) GTEST_SKIP() << "KPRCNN_SERVER_TEST_MODELS not set";
  Server server(options_for(model_dir() / "truncated.onnx"));
  server.start();
  EXPECT_EQ(server.wait_loaded(std::chrono::seconds(30)), State::kFailed);
  EXPECT_EQ(http_status(server.port(), get("/readyz")), 503);
  try {
    server.rethrow_load_error();
    FAIL() << "no load error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kModelLoad) << e.what();
    EXPECT_NE(std::string(e.what()).find("truncated.onnx"), std::string::npos) << e.what();
  }
  server.stop();
}

TEST(ServerLib, BusyPortIsAnIoError) {
  if (model_dir().empty()) GTEST_SKIP() << "KPRCNN_SERVER_TEST_MODELS not set";
  Server first(options_for(model_dir() / "bright.onnx"));
  first.start();
  ServerOptions o = options_for(model_dir() / "bright.onnx");
  o.port = first.port();
  Server second(o);
  try {
    second.start();
    FAIL() << "bound a busy port";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_NE(std::string(e.what()).find("cannot listen"), std::string::npos) << e.what();
  }
}

TEST(ServerLib, InvalidOptionsAreRefusedAtConstruction) {
  ServerOptions o;
  o.model = "m.onnx";
  o.workers = 0;
  EXPECT_THROW(Server{o}, Error);
}

// fault row 12 (a 504 stops its run). Detector::predict with a CancelToken, cancelled from another thread
// while the engine runs: it throws kCancelled
// soon after (ONNX Runtime stops before its next operator; OpenVINO through InferRequest::cancel), long before the
// run would have ended, and the Detector serves the next call. sized.onnx at ?size=768 runs for seconds (at least
// 2 s on a fast 2-core machine: 25 MatMuls of 2304 x 2304), one operator of it a few hundred ms at most.
void expect_cancel_stops_the_run(Engine engine) {
  DetectorOptions d;
  d.engine = engine;
  d.intra_op_threads = 2;
  const Detector detector(model_dir() / "sized.onnx", d);
  const Image image(64, 48);
  PredictOptions slow;
  slow.size = 768;
  const CancelToken token;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    token.cancel();
  });
  const auto t0 = std::chrono::steady_clock::now();
  try {
    detector.predict(image, slow, token);
    ADD_FAILURE() << "the cancelled run returned a result";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCancelled) << e.what();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  canceller.join();
  EXPECT_LT(seconds, 1.0) << "the run was not stopped";
  EXPECT_TRUE(token.cancelled());
  // Cancelled before it starts: throws at once. Then an ordinary run on the same Detector works.
  EXPECT_THROW(detector.predict(image, slow, token), Error);
  PredictOptions quick;
  quick.size = 32;
  EXPECT_EQ(detector.predict(image, quick, CancelToken()).detections.size(), 0u);  // black: score 0
}

TEST(Cancel, OrtRunStopsWhenCancelledFromAnotherThread) {
  if (model_dir().empty()) GTEST_SKIP() << "KPRCNN_SERVER_TEST_MODELS not set";
  expect_cancel_stops_the_run(Engine::kOnnxRuntime);
}

TEST(Cancel, OpenVinoRunStopsWhenCancelledFromAnotherThread) {
  if (model_dir().empty()) GTEST_SKIP() << "KPRCNN_SERVER_TEST_MODELS not set";
  if (!openvino_unavailable_reason().empty()) GTEST_SKIP() << openvino_unavailable_reason();
  expect_cancel_stops_the_run(Engine::kOpenVino);
}

}  // namespace
}  // namespace kprcnn::server
