// kprcnn export: hands over to the Python exporter (PyTorch lives in Python; nothing else does), with
// KPRCNN_CLI set to this binary so that the exporter can verify its result with ONNX Runtime.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "commands.h"

namespace kprcnn::cli {

int run_export(const std::vector<std::string>& args) {
  // Python with torch + torchvision: $KPRCNN_PYTHON, else the one the build was configured with.
  const char* env_python = std::getenv("KPRCNN_PYTHON");
  const std::string python = env_python && *env_python ? env_python : KPRCNN_PYTHON_DEFAULT;
  // The exporter package: $KPRCNN_PYTHON_PATH, else the source tree this binary was built from.
  const char* env_path = std::getenv("KPRCNN_PYTHON_PATH");
  std::string pythonpath = env_path && *env_path ? env_path : KPRCNN_PYTHON_SOURCE_DIR;
  if (const char* old = std::getenv("PYTHONPATH"); old && *old) pythonpath += std::string(":") + old;
  ::setenv("PYTHONPATH", pythonpath.c_str(), 1);
  // The exporter verifies its result with ONNX Runtime by running this binary (`kprcnn predict`); tell it where.
  std::error_code ec;
  if (const auto self = std::filesystem::read_symlink("/proc/self/exe", ec); !ec) {
    ::setenv("KPRCNN_CLI", self.c_str(), 1);
  }

  std::vector<std::string> argv_store{python, "-m", "kprcnn_export"};
  argv_store.insert(argv_store.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::cout.flush();
  ::execvp(argv[0], argv.data());
  std::cerr << "error: cannot run " << python << ": " << std::strerror(errno)
            << "\n  Set KPRCNN_PYTHON to a Python that has torch and torchvision (e.g. /usr/bin/python3 with "
               "Debian's python3-torch and python3-torchvision).\n";
  return 3;
}

}  // namespace kprcnn::cli
