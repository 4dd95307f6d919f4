// kprcnn export, quantize, synth and train: hand over to Python (PyTorch and ONNX Runtime's quantisation tooling live
// there), with KPRCNN_CLI set to this binary so that the Python side can check its result with `kprcnn predict`.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "commands.h"

namespace kprcnn::cli {

namespace {

namespace fs = std::filesystem;

// The folder of this binary (bin/ of the build folder or of an installed prefix).
fs::path self_dir() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : self.parent_path();
}

// Replaces this process with `python -m module args...`, the exporter package on PYTHONPATH and KPRCNN_CLI set to
// this binary (the Python side runs `kprcnn predict` to check what it wrote). Returns only when exec fails.
int exec_python(const std::string& python, const char* module, const std::vector<std::string>& args, const char* hint) {
  // The exporter package: $KPRCNN_PYTHON_PATH, else share/kprcnn/python relative to this binary (installed: the
  // package itself; in the build folder: a link to the source tree's python/kprcnn_export). Both move with the tree.
  const char* env_path = std::getenv("KPRCNN_PYTHON_PATH");
  const fs::path dir = self_dir();
  std::string pythonpath =
      env_path && *env_path ? env_path : (dir / KPRCNN_DATA_FROM_BIN / "python").lexically_normal().string();
  if (const char* old = std::getenv("PYTHONPATH"); old && *old) pythonpath += std::string(":") + old;
  ::setenv("PYTHONPATH", pythonpath.c_str(), 1);
  std::error_code ec;
  if (const auto self = fs::read_symlink("/proc/self/exe", ec); !ec) ::setenv("KPRCNN_CLI", self.c_str(), 1);

  std::vector<std::string> argv_store{python, "-m", module};
  argv_store.insert(argv_store.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::cout.flush();
  ::execvp(argv[0], argv.data());
  std::cerr << "error: cannot run " << python << ": " << std::strerror(errno) << "\n  " << hint << "\n";
  return 3;
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

}  // namespace

int run_export(const std::vector<std::string>& args) {
  // Python with torch + torchvision: $KPRCNN_PYTHON, else the one the build was configured with.
  return exec_python(env_or("KPRCNN_PYTHON", KPRCNN_PYTHON_DEFAULT), "kprcnn_export", args,
                     "Set KPRCNN_PYTHON to a Python that has torch and torchvision (e.g. /usr/bin/python3 with "
                     "Debian's python3-torch and python3-torchvision).");
}

int run_synth(const std::vector<std::string>& args) {
  return exec_python(env_or("KPRCNN_PYTHON", KPRCNN_PYTHON_DEFAULT), "kprcnn_export.synth", args,
                     "Set KPRCNN_PYTHON to a Python that has numpy and Pillow.");
}

int run_train(const std::vector<std::string>& args) {
  return exec_python(env_or("KPRCNN_PYTHON", KPRCNN_PYTHON_DEFAULT), "kprcnn_export.train", args,
                     "Set KPRCNN_PYTHON to a Python that has torch and torchvision (e.g. /usr/bin/python3 with "
                     "Debian's python3-torch and python3-torchvision).");
}

int run_quantize(const std::vector<std::string>& args) {
  // Python with onnxruntime + onnx: $KPRCNN_QUANTIZE_PYTHON, else the build folder's venv beside bin/ (scripts/setup.sh
  // makes build/venv), else the configured Python (which then says what is missing).
  std::error_code ec;
  const fs::path venv_python = self_dir().parent_path() / "venv" / "bin" / "python";
  const std::string fallback = fs::exists(venv_python, ec) ? venv_python.string() : KPRCNN_PYTHON_DEFAULT;
  return exec_python(env_or("KPRCNN_QUANTIZE_PYTHON", fallback), "kprcnn_export.quantize", args,
                     "Set KPRCNN_QUANTIZE_PYTHON to a Python that has onnxruntime and onnx >= 1.14 (scripts/setup.sh "
                     "makes build/venv with them).");
}

}  // namespace kprcnn::cli
