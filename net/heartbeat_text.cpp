// Reads the body of POST /heartbeat straight from its text with nlohmann's
// SAX interface, so the commonest request builds no JSON tree. Anything
// unusual makes the reader give up, and the caller then takes the full
// path through parse_object and decode_heartbeat.

#include "net/json_codec.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orchestrator {

namespace {

/// Follows the events of one heartbeat body. Every callback returns false
/// to stop the parse as soon as the body leaves the shapes it reads: a
/// value of an unexpected type, a repeated key, a value out of range, or a
/// nested value under an unknown key. It accepts exactly the
/// bodies that decode_heartbeat accepts without an error, apart from those
/// it gives up on, and fills the request the same way.
class heartbeat_reader {
public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  explicit heartbeat_reader(const decode_limits& limits) : limits_(limits) {
    request_.beat.reported_status = "active";
  }

  /// Returns the request if the parse ended without a stop and every
  /// required field was read.
  std::optional<heartbeat_request> finish() {
    if (place_ != place::done || !has(top_seen_, field::server_id)
        || !has(top_seen_, field::current_streams))
      return std::nullopt;
    if (has(top_seen_, field::system_metrics) && request_.metrics) {
      // The seven sizes are required, while uptime and load average are not.
      for (auto required : {field::cpu, field::memory, field::memory_used,
                            field::memory_total, field::disk, field::disk_free,
                            field::disk_total})
        if (!has(metrics_set_, required))
          return std::nullopt;
    }
    return std::move(request_);
  }

  bool null() {
    switch (place_) {
      case place::top:
        // A null status, list or metrics object counts as missing. The id
        // and the count are required.
        if (key_ == field::status) {
          request_.beat.reported_status = "active";
          return true;
        }
        return key_ == field::stream_ids || key_ == field::system_metrics
               || key_ == field::other;
      case place::metrics:
        return key_ == field::uptime || key_ == field::load_average
               || key_ == field::other;
      default:
        return false;
    }
  }

  bool boolean(bool) {
    return (place_ == place::top || place_ == place::metrics)
           && key_ == field::other;
  }

  bool number_integer(number_integer_t value) {
    return number(value, static_cast<double>(value));
  }

  bool number_unsigned(number_unsigned_t value) {
    std::optional<std::int64_t> whole;
    if (value <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      whole = static_cast<std::int64_t>(value);
    return number(whole, static_cast<double>(value));
  }

  bool number_float(number_float_t value, const string_t&) {
    // decode_heartbeat takes 5.0 for an integer, so that rare case is left to it.
    return number(std::nullopt, value);
  }

  bool string(string_t& value) {
    if (place_ == place::metrics)
      return key_ == field::other;
    if (place_ != place::top)
      return false;
    switch (key_) {
      case field::server_id:
        if (!valid_server_id(value))
          return false;
        request_.beat.server_id = std::move(value);
        return true;
      case field::status:
        if (value.size() > 64
            || std::any_of(value.begin(), value.end(), [](unsigned char c) {
                 return c < 0x20 || c == 0x7f;
               }))
          return false;
        request_.beat.reported_status = std::move(value);
        return true;
      case field::other:
        return true;
      default:
        return false;
    }
  }

  bool binary(binary_t&) {
    return false;
  }

  bool start_object(std::size_t) {
    if (place_ == place::start) {
      place_ = place::top;
      return true;
    }
    if (place_ == place::top && key_ == field::system_metrics) {
      place_ = place::metrics;
      request_.metrics.emplace();
      return true;
    }
    return false;
  }

  bool end_object() {
    if (place_ == place::metrics) {
      place_ = place::top;
      return true;
    }
    if (place_ == place::top) {
      place_ = place::done;
      return true;
    }
    return false;
  }

  bool start_array(std::size_t) {
    if (place_ == place::top && key_ == field::stream_ids) {
      place_ = place::ids;
      request_.beat.lists_streams = true;
      return true;
    }
    if (place_ == place::metrics && key_ == field::load_average) {
      place_ = place::load;
      return true;
    }
    return false;
  }

  bool end_array() {
    if (place_ == place::ids) {
      place_ = place::top;
      return true;
    }
    if (place_ == place::load && request_.metrics->load_average.size() == 3) {
      place_ = place::metrics;
      return true;
    }
    return false;
  }

  bool key(string_t& name) {
    if (place_ == place::top)
      return enter(name, top_fields, top_seen_, top_others_);
    if (place_ == place::metrics)
      return enter(name, metric_fields, metrics_seen_, metrics_others_);
    return false;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    return false;
  }

private:
  enum class place { start, top, metrics, ids, load, done };

  enum class field : unsigned {
    server_id,
    current_streams,
    status,
    stream_ids,
    system_metrics,
    cpu,
    memory,
    memory_used,
    memory_total,
    disk,
    disk_free,
    disk_total,
    uptime,
    load_average,
    other,
  };

  struct named_field {
    std::string_view name;
    field id;
  };

  static constexpr named_field top_fields[] = {
    {"server_id", field::server_id},
    {"current_streams", field::current_streams},
    {"status", field::status},
    {"stream_ids", field::stream_ids},
    {"system_metrics", field::system_metrics},
  };

  static constexpr named_field metric_fields[] = {
    {"cpu_percent", field::cpu},
    {"memory_percent", field::memory},
    {"memory_used_gb", field::memory_used},
    {"memory_total_gb", field::memory_total},
    {"disk_percent", field::disk},
    {"disk_free_gb", field::disk_free},
    {"disk_total_gb", field::disk_total},
    {"uptime_seconds", field::uptime},
    {"load_average", field::load_average},
  };

  static unsigned bit(field f) {
    return 1u << static_cast<unsigned>(f);
  }

  static bool has(unsigned set, field f) {
    return (set & bit(f)) != 0;
  }

  /// Makes `name` the current key of an object whose known keys are
  /// `fields`. Stops on a key seen before in the same object.
  template <std::size_t N>
  bool enter(const std::string& name, const named_field (&fields)[N],
             unsigned& seen, std::vector<std::string>& others) {
    for (const auto& candidate : fields)
      if (candidate.name == name) {
        if (has(seen, candidate.id))
          return false;
        seen |= bit(candidate.id);
        key_ = candidate.id;
        return true;
      }
    if (std::find(others.begin(), others.end(), name) != others.end())
      return false;
    others.push_back(name);
    key_ = field::other;
    return true;
  }

  /// Takes a number: `whole` is its value if it is an integer that fits in
  /// 64 bits, `real` its value as a double.
  bool number(std::optional<std::int64_t> whole, double real) {
    switch (place_) {
      case place::top:
        if (key_ == field::current_streams) {
          if (!whole || *whole < 0 || *whole > 10'000'000)
            return false;
          request_.beat.reported_count = *whole;
          return true;
        }
        return key_ == field::other;
      case place::ids:
        if (!whole || *whole < 1
            || request_.beat.stream_ids.size() >= limits_.max_ids_per_request)
          return false;
        request_.beat.stream_ids.push_back(*whole);
        return true;
      case place::load:
        if (!std::isfinite(real) || real < 0
            || request_.metrics->load_average.size() >= 3)
          return false;
        request_.metrics->load_average.push_back(real);
        return true;
      case place::metrics:
        return metric(real);
      default:
        return false;
    }
  }

  bool metric(double value) {
    auto& sample = *request_.metrics;
    constexpr double max_gb = 1.0e9;
    auto set = [&](double& target, double max) {
      if (!std::isfinite(value) || value < 0 || value > max)
        return false;
      target = value;
      metrics_set_ |= bit(key_);
      return true;
    };
    switch (key_) {
      case field::cpu:
        return set(sample.cpu_percent, 100);
      case field::memory:
        return set(sample.memory_percent, 100);
      case field::memory_used:
        return set(sample.memory_used_gb, max_gb);
      case field::memory_total:
        return set(sample.memory_total_gb, max_gb);
      case field::disk:
        return set(sample.disk_percent, 100);
      case field::disk_free:
        return set(sample.disk_free_gb, max_gb);
      case field::disk_total:
        return set(sample.disk_total_gb, max_gb);
      case field::uptime:
        return set(sample.uptime_seconds, 1.0e11);
      case field::other:
        return true;
      default:
        return false;
    }
  }

  const decode_limits& limits_;
  heartbeat_request request_;
  place place_ = place::start;
  field key_ = field::other;
  unsigned top_seen_ = 0;
  unsigned metrics_seen_ = 0;
  /// The metrics whose value was read.
  unsigned metrics_set_ = 0;
  std::vector<std::string> top_others_;
  std::vector<std::string> metrics_others_;
};

} // namespace

std::optional<heartbeat_request> decode_heartbeat_text(std::string_view text,
                                                       const decode_limits& limits) {
  heartbeat_reader reader{limits};
  try {
    if (!json::sax_parse(text, &reader, json::input_format_t::json, true))
      return std::nullopt;
  } catch (const std::exception&) {
    // Whatever went wrong, the full path reports it.
    return std::nullopt;
  }
  return reader.finish();
}

} // namespace orchestrator
