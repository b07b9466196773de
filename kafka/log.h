// The "kafka" component's logger, one for all of the Kafka glue (processor/logging.h:
// a logger per component, so that log levels and JSON fields name the part that spoke).
#pragma once

namespace spdlog {
class logger;
}

namespace uniqd::kafka {

spdlog::logger& klog();

}  // namespace uniqd::kafka
