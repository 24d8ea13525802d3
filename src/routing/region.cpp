#include "routing/region.h"

#include <algorithm>

namespace hotline::routing {

std::string RegionTable::digits(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c >= '0' && c <= '9') out.push_back(c);
  return out;
}

common::Status RegionTable::add(std::string_view prefix, std::string region) {
  std::string d = digits(prefix);
  if (d.empty()) return common::Error::invalid("prefix", "a prefix needs at least one digit");
  if (region.empty()) return common::Error::invalid("region", "region must not be empty");
  longest_ = std::max(longest_, d.size());
  regions_[std::move(d)] = std::move(region);
  return common::ok_status();
}

std::string_view RegionTable::lookup(std::string_view number) const {
  const std::string d = digits(number);
  for (std::size_t n = std::min(d.size(), longest_); n > 0; --n) {
    auto it = regions_.find(std::string_view(d).substr(0, n));
    if (it != regions_.end()) return it->second;
  }
  return {};
}

}  // namespace hotline::routing
