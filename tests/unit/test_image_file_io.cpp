// read_file, write_file_atomic, write_image, read_image (fault rows 1 and 16).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>

#include "kprcnn/error.h"
#include "kprcnn/image.h"
#include "test_image_util.h"

namespace kprcnn {
namespace {

namespace fs = std::filesystem;
using image_test::Bytes;
using image_test::code_of;
using image_test::message_of;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class ImageFileIo : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ =
        fs::path(KPRCNN_TEST_TMP_DIR) / (std::string("ImageFileIo-") + info->name() + "-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
    for (const auto& entry : fs::recursive_directory_iterator(dir_, ec)) {
      fs::permissions(entry.path(), fs::perms::owner_all, fs::perm_options::add, ec);
    }
    fs::remove_all(dir_, ec);
  }

  // Names in `folder` (default: the test folder), sorted.
  std::vector<std::string> listing(const fs::path& folder = {}) const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(folder.empty() ? dir_ : folder)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  static std::string slurp(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  fs::path dir_;
};

TEST_F(ImageFileIo, ReadFileReturnsTheBytes) {
  const Bytes bytes = {0, 1, 2, 255, 10, 13};
  write_file_atomic(dir_ / "a.bin", bytes);
  EXPECT_EQ(read_file(dir_ / "a.bin"), bytes);
  write_file_atomic(dir_ / "empty.bin", Bytes{});
  EXPECT_TRUE(read_file(dir_ / "empty.bin").empty());
  const Bytes big(3 * 1024 * 1024 + 7, 0xAB);  // several read chunks
  write_file_atomic(dir_ / "big.bin", big);
  EXPECT_EQ(read_file(dir_ / "big.bin"), big);
}

TEST_F(ImageFileIo, ReadFileErrorsNameThePath) {  // fault row 1
  const fs::path missing = dir_ / "missing.jpg";
  EXPECT_EQ(code_of([&] { read_file(missing); }), ErrorCode::kIo);
  const std::string message = message_of([&] { read_file(missing); });
  EXPECT_TRUE(contains(message, missing.string())) << message;
  EXPECT_TRUE(contains(message, "No such file or directory")) << message;

  EXPECT_EQ(code_of([&] { read_file(dir_); }), ErrorCode::kIo);
  EXPECT_TRUE(contains(message_of([&] { read_file(dir_); }), "folder"));
}

TEST_F(ImageFileIo, ReadImageErrorsNameThePath) {  // fault row 1
  const fs::path text = dir_ / "photo.jpg";
  write_file_atomic(text, std::string_view("not a photo"));
  EXPECT_EQ(code_of([&] { read_image(text); }), ErrorCode::kImageDecode);
  const std::string message = message_of([&] { read_image(text); });
  EXPECT_TRUE(contains(message, text.string())) << message;
  EXPECT_TRUE(contains(message, "not a JPEG or PNG image")) << message;
  write_file_atomic(dir_ / "empty.png", Bytes{});
  EXPECT_EQ(code_of([&] { read_image(dir_ / "empty.png"); }), ErrorCode::kImageDecode);
  EXPECT_EQ(code_of([&] { read_image(dir_ / "none.png"); }), ErrorCode::kIo);
}

TEST_F(ImageFileIo, AtomicWriteReplacesAndLeavesNoTemporary) {  // fault row 16
  const fs::path path = dir_ / "out.json";
  write_file_atomic(path, std::string_view("first version, rather long"));
  write_file_atomic(path, std::string_view("second"));
  EXPECT_EQ(slurp(path), "second");
  EXPECT_EQ(listing(), std::vector<std::string>{"out.json"});
}

TEST_F(ImageFileIo, AtomicWriteKeepsPermissionsOfTheReplacedFile) {
  const fs::path path = dir_ / "keep.txt";
  write_file_atomic(path, std::string_view("a"));
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  write_file_atomic(path, std::string_view("b"));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST_F(ImageFileIo, AtomicWriteIntoMissingFolderFails) {  // fault row 16
  const fs::path path = dir_ / "no" / "such" / "folder" / "out.png";
  EXPECT_EQ(code_of([&] { write_file_atomic(path, std::string_view("x")); }), ErrorCode::kIo);
  const std::string message = message_of([&] { write_file_atomic(path, std::string_view("x")); });
  EXPECT_TRUE(contains(message, path.string())) << message;
  EXPECT_TRUE(contains(message, "No such file or directory")) << message;
  EXPECT_TRUE(listing().empty());
}

TEST_F(ImageFileIo, AtomicWriteIntoUnwritableFolderFails) {  // fault row 16
  fs::path folder = dir_ / "locked";
  fs::create_directory(folder);
  ASSERT_EQ(::chmod(folder.c_str(), 0555), 0);
  // root ignores permission bits: use a folder the kernel refuses instead.
  const int probe = ::open((folder / "probe").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0666);
  if (probe >= 0) {
    ::close(probe);
    ::unlink((folder / "probe").c_str());
    folder = "/sys";
    const int sys_probe = ::open("/sys/kprcnn-probe", O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (sys_probe >= 0) {
      ::close(sys_probe);
      ::unlink("/sys/kprcnn-probe");
      GTEST_SKIP() << "no unwritable folder available (running as root without a read-only /sys)";
    }
  }
  const fs::path path = folder / "kprcnn-out.png";
  EXPECT_EQ(code_of([&] { write_file_atomic(path, std::string_view("x")); }), ErrorCode::kIo);
  const std::string message = message_of([&] { write_file_atomic(path, std::string_view("x")); });
  EXPECT_TRUE(contains(message, path.string())) << message;
  EXPECT_TRUE(contains(message, "writable")) << message;
  EXPECT_FALSE(fs::exists(path));
  if (folder != "/sys") {
    EXPECT_TRUE(listing(folder).empty());
  }
}

TEST_F(ImageFileIo, AtomicWriteOntoAFolderFails) {
  fs::create_directory(dir_ / "taken");
  EXPECT_EQ(code_of([&] { write_file_atomic(dir_ / "taken", std::string_view("x")); }), ErrorCode::kIo);
  EXPECT_TRUE(fs::is_directory(dir_ / "taken"));
  EXPECT_EQ(listing(), std::vector<std::string>{"taken"});
  EXPECT_EQ(code_of([&] { write_file_atomic(dir_ / "", std::string_view("x")); }), ErrorCode::kInvalidArgument);
}

// Restores RLIMIT_FSIZE and SIGXFSZ when the test ends.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    previous_handler_ = std::signal(SIGXFSZ, SIG_IGN);  // writes past the limit fail with EFBIG instead
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    ok_ = setrlimit(RLIMIT_FSIZE, &limit) == 0;
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, previous_handler_);
  }
  bool ok() const { return ok_; }

 private:
  rlimit saved_{};
  void (*previous_handler_)(int) = nullptr;
  bool ok_ = false;
};

TEST_F(ImageFileIo, WriteFailingMidwayLeavesTheOldFileAndNoTemporary) {  // fault row 16 (disk full)
  // A file-size limit makes write() fail part way, like ENOSPC on a full disk.
  const fs::path path = dir_ / "result.png";
  write_file_atomic(path, std::string_view("old contents"));
  std::string message;
  {
    FileSizeLimit limit(4096);
    ASSERT_TRUE(limit.ok());
    const Bytes big(100 * 1024, 7);
    message = message_of([&] { write_file_atomic(path, big); });
  }
  EXPECT_TRUE(contains(message, path.string())) << message;
  EXPECT_TRUE(contains(message, "too large")) << message;  // EFBIG: "File too large"
  EXPECT_EQ(slurp(path), "old contents");
  EXPECT_EQ(listing(), std::vector<std::string>{"result.png"});
}

TEST_F(ImageFileIo, WriteImagePicksTheFormatByExtension) {
  const Image image = image_test::pattern_image(30, 20);
  for (const char* name : {"a.png", "b.PNG", "c.jpg", "d.JPEG", "e.jpeg"}) {
    write_image(image, dir_ / name, 95);
    const Bytes bytes = read_file(dir_ / name);
    const bool png = name[2] == 'p' || name[2] == 'P';
    EXPECT_EQ(sniff_format(bytes), png ? ImageFormat::kPng : ImageFormat::kJpeg) << name;
    const Image back = read_image(dir_ / name);
    EXPECT_EQ(back.width, 30);
    if (png) {
      EXPECT_EQ(back.pixels, image.pixels);
    }
  }
  for (const char* name : {"f.bmp", "g", "h.png.txt"}) {
    EXPECT_EQ(code_of([&] { write_image(image, dir_ / name); }), ErrorCode::kInvalidArgument) << name;
    EXPECT_FALSE(fs::exists(dir_ / name));
  }
  EXPECT_EQ(code_of([&] { write_image(Image(), dir_ / "empty.png"); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(listing().size(), 5u);
}

}  // namespace
}  // namespace kprcnn
