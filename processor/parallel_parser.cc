#include "processor/parallel_parser.h"

#include <pthread.h>

#include <algorithm>
#include <cstring>

namespace uniqd::processor {
namespace {

// A batch is handed over past this many bytes or lines: large enough that a
// worker's wake-up is paid over hundreds of frames, small enough that the
// results of a slow pipe are not held back.
constexpr std::size_t kBatchBytes = 1 << 20;
constexpr std::size_t kBatchLines = 2048;

}  // namespace

void split_lines(const char* data, std::size_t size, std::size_t max_frame_bytes, std::vector<ParsedLine>& lines) {
  const char* p = data;
  const char* const end = data + size;
  while (p < end) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    const char* stop = nl != nullptr ? nl : end;
    std::size_t n = static_cast<std::size_t>(stop - p);
    if (n > 0 && p[n - 1] == '\r') --n;
    ParsedLine& l = lines.emplace_back();
    l.full_size = n;
    if (n > max_frame_bytes) {
      l.bytes = std::string_view(p, std::min(n, kRejectPrefixBytes));
      l.too_large = true;
      l.why = RejectReason::too_large;
    } else {
      l.bytes = std::string_view(p, n);
      l.blank = is_blank_frame(l.bytes);
    }
    p = stop + 1;
  }
}

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

std::unique_ptr<ParallelParser::Batch> ParallelParser::take_batch() {
  {
    std::lock_guard lock(mu_);
    if (!spare_.empty()) {
      std::unique_ptr<Batch> b = std::move(spare_.back());
      spare_.pop_back();
      return b;
    }
  }
  return std::make_unique<Batch>();
}

void ParallelParser::recycle(std::shared_ptr<Batch>&& b) {
  // Only when nobody else holds it (a worker drops its reference just after
  // marking it done).
  if (b.use_count() != 1) return;
  auto kept = std::make_unique<Batch>();
  std::swap(*kept, *b);
  kept->data.clear();
  kept->lines.clear();
  kept->spans.clear();
  kept->in_place = nullptr;
  kept->in_place_size = 0;
  kept->done = false;
  std::lock_guard lock(mu_);
  if (spare_.size() < in_flight_ + 2) spare_.push_back(std::move(kept));
}

void ParallelParser::add_lines(const char* data, std::size_t size, const Apply& apply) {
  if (filling_ && !filling_->lines.empty()) submit(apply);
  filling_ = take_batch();
  filling_->in_place = data;
  filling_->in_place_size = size;
  submit(apply);
}

void ParallelParser::add_line(const char* data, std::size_t size, SourcePosition pos, const Apply& apply) {
  if (!filling_) filling_ = take_batch();
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
  if (!filling_) filling_ = take_batch();
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
  if (filling_ && (!filling_->lines.empty() || filling_->in_place != nullptr)) submit(apply);
  drain(apply, true);
}

void ParallelParser::submit(const Apply& apply) {
  std::shared_ptr<Batch> b(std::move(filling_));
  if (b->in_place == nullptr) b->data.append(kFramePadding, '\0');
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
    if (b->in_place != nullptr) split_lines(b->in_place, b->in_place_size, max_frame_bytes, b->lines);
    for (ParsedLine& l : b->lines) {
      if (!l.too_large && !l.blank) l.why = parser.parse(l.bytes.data(), l.bytes.size(), l.frame);
    }
    {
      std::lock_guard lock(mu_);
      b->done = true;
    }
    b.reset();
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
  if (b->in_place != nullptr) {
    for (ParsedLine& l : b->lines) l.pos = SourcePosition{0, static_cast<std::int64_t>(next_line_++)};
  }
  for (const ParsedLine& l : b->lines) apply(l);
  recycle(std::move(b));
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
