#pragma once

#include "actors/types.hpp"

#include <caf/expected.hpp>

#include <string>
#include <vector>

namespace orchestrator {

/// Reads a stream catalogue file. A `.csv` file needs a header row with at
/// least `id` and `url`; `name` is optional and every other column joins the
/// stream's metadata. Any other file is read as JSON: an array of stream
/// objects or {"streams": [...]}, with the fields POST /streams takes.
caf::expected<std::vector<stream_row>> read_catalog_file(const std::string& path);

/// Splits one CSV record into fields (RFC 4180 quoting; no embedded line
/// breaks).
std::vector<std::string> split_csv_line(const std::string& line);

} // namespace orchestrator
