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

#include <cstddef>
#include <exception>
#include <thread>
#include <utility>

#include "bounded_queue.h"

namespace kprcnn::cli {

using apps::BoundedQueue;

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
