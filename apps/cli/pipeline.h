// A three-stage pipeline for folders: item i+1 is read and decoded, and item i-1 drawn, encoded and written,
// while the model runs on item i. The model stage runs on the calling thread; the other two on one thread each.
// Items move through bounded queues (one waiting item per stage), so memory stays at a few decoded images.
//
// run_pipeline(n, load, infer, store):
//   load(i)         -> Item     reader thread, i = 0..n-1 in order
//   infer(Item&)               calling thread, in order
//   store(Item&)               writer thread, in order
// Exceptions: a stage reports per-item failures inside the Item (the caller's business). An exception that
// escapes infer() stops the pipeline: no further item is loaded or inferred, items already inferred are still
// stored, the threads are joined, and the exception is rethrown. Exceptions escaping load() or store() are
// treated the same way.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace kprcnn::cli {

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(std::size_t capacity) : capacity_(capacity) {}

  // Blocks while full; false when the queue was closed (the item is dropped).
  bool push(T item) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
    if (closed_) return false;
    items_.push_back(std::move(item));
    not_empty_.notify_one();
    return true;
  }
  // Blocks while empty; nullopt once closed and drained.
  std::optional<T> pop() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return item;
  }
  // No more pushes; pop() drains what is queued, then returns nullopt.
  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable not_empty_, not_full_;
  std::deque<T> items_;
  std::size_t capacity_;
  bool closed_ = false;
};

template <typename Load, typename Infer, typename Store>
void run_pipeline(std::size_t n, Load&& load, Infer&& infer, Store&& store) {
  using Item = decltype(load(std::size_t{0}));
  BoundedQueue<Item> loaded(1), inferred(1);
  std::exception_ptr reader_error, writer_error;
  std::thread reader([&] {
    try {
      for (std::size_t i = 0; i < n; ++i) {
        if (!loaded.push(load(i))) break;
      }
    } catch (...) {
      reader_error = std::current_exception();
    }
    loaded.close();
  });
  std::thread writer([&] {
    try {
      while (auto item = inferred.pop()) store(*item);
    } catch (...) {
      writer_error = std::current_exception();
      inferred.close();
      loaded.close();  // stop reading too
    }
  });
  std::exception_ptr error;
  try {
    while (auto item = loaded.pop()) {
      infer(*item);
      if (!inferred.push(std::move(*item))) break;  // the writer failed
    }
  } catch (...) {
    error = std::current_exception();
  }
  loaded.close();  // the reader stops at its next push
  inferred.close();
  reader.join();
  writer.join();
  if (error) std::rethrow_exception(error);
  if (writer_error) std::rethrow_exception(writer_error);
  if (reader_error) std::rethrow_exception(reader_error);
}

}  // namespace kprcnn::cli
