#include "processor/parallel_parser.h"

#include <pthread.h>

#include <cstring>

namespace uniqd::processor {
namespace {

// A batch is handed over past this many bytes or lines: large enough that a
// worker's wake-up is paid over hundreds of frames, small enough that the
// results of a slow pipe are not held back.
constexpr std::size_t kBatchBytes = 1 << 20;
constexpr std::size_t kBatchLines = 2048;

}  // namespace

ParallelParser::ParallelParser(int threads, std::size_t max_frame_bytes, TsUnit unit, std::size_t in_flight)
    : in_flight_(std::max<std::size_t>(in_flight, 2)) {
  for (int i = 0; i < std::max(threads, 1); ++i) {
    workers_.emplace_back([this, max_frame_bytes, unit] { work(max_frame_bytes, unit); });
  }
}

ParallelParser::~ParallelParser() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ParallelParser::add_line(const char* data, std::size_t size, SourcePosition pos, const Apply& apply) {
  if (!filling_) filling_ = std::make_unique<Batch>();
  filling_->spans.emplace_back(filling_->data.size(), size);
  filling_->data.append(data, size);
  ParsedLine l;
  l.full_size = size;
  l.pos = pos;
  filling_->lines.push_back(l);
  if (filling_->data.size() >= kBatchBytes || filling_->lines.size() >= kBatchLines) submit(apply);
}

void ParallelParser::add_too_large(std::string_view prefix, std::uint64_t full_size, SourcePosition pos,
                                   const Apply& apply) {
  if (!filling_) filling_ = std::make_unique<Batch>();
  filling_->spans.emplace_back(filling_->data.size(), prefix.size());
  filling_->data.append(prefix);
  ParsedLine l;
  l.full_size = full_size;
  l.pos = pos;
  l.too_large = true;
  l.why = RejectReason::too_large;
  filling_->lines.push_back(l);
  if (filling_->lines.size() >= kBatchLines) submit(apply);
}

bool ParallelParser::holds_lines() const {
  if (filling_ && !filling_->lines.empty()) return true;
  std::lock_guard lock(mu_);
  return !pending_.empty();
}

void ParallelParser::finish(const Apply& apply) {
  if (filling_ && !filling_->lines.empty()) submit(apply);
  drain(apply, true);
}

void ParallelParser::submit(const Apply& apply) {
  std::shared_ptr<Batch> b(std::move(filling_));
  b->data.append(kFramePadding, '\0');
  // Views are taken once the buffer no longer grows.
  for (std::size_t i = 0; i < b->lines.size(); ++i) {
    b->lines[i].bytes = std::string_view(b->data.data() + b->spans[i].first, b->spans[i].second);
  }
  {
    std::lock_guard lock(mu_);
    pending_.push_back(b);
    todo_.push_back(std::move(b));
  }
  work_cv_.notify_one();
  drain(apply, false);
  // Bounded memory: while too many batches are out, apply the oldest as soon
  // as it is parsed.
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (pending_.size() < in_flight_) return;
    }
    drain_one(apply);
  }
}

void ParallelParser::work(std::size_t max_frame_bytes, TsUnit unit) {
  // Named, so that top -H and perf tell parsing from the counting thread.
  pthread_setname_np(pthread_self(), "uniqd-parse");
  FrameParser parser(max_frame_bytes, unit);
  while (true) {
    std::shared_ptr<Batch> b;
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [&] { return stopping_ || !todo_.empty(); });
      if (todo_.empty()) return;
      b = std::move(todo_.front());
      todo_.pop_front();
    }
    for (ParsedLine& l : b->lines) {
      if (!l.too_large) l.why = parser.parse(l.bytes.data(), l.bytes.size(), l.frame);
    }
    {
      std::lock_guard lock(mu_);
      b->done = true;
    }
    done_cv_.notify_all();
  }
}

void ParallelParser::drain_one(const Apply& apply) {
  std::shared_ptr<Batch> b;
  {
    std::unique_lock lock(mu_);
    if (pending_.empty()) return;
    done_cv_.wait(lock, [&] { return pending_.front()->done; });
    b = std::move(pending_.front());
    pending_.pop_front();
  }
  for (const ParsedLine& l : b->lines) apply(l);
}

void ParallelParser::drain(const Apply& apply, bool wait) {
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (pending_.empty() || (!wait && !pending_.front()->done)) return;
    }
    drain_one(apply);
  }
}

}  // namespace uniqd::processor
