// routing/region.h — caller region from the number's prefix.
//
// The call layer turns the caller's number into a region attribute before
// enqueueing ("region" = "EU"), and queues route on it with an AttributeRule.
// Longest prefix wins; digits only (a leading '+' and separators are ignored).
//
//   RegionTable t;
//   t.add("+44", "UK"); t.add("+4420", "London");
//   t.lookup("+44 20 7946 0000") == "London"
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/result.h"

namespace hotline::routing {

class RegionTable {
 public:
  // Prefix must contain at least one digit; an existing prefix is replaced.
  common::Status add(std::string_view prefix, std::string region);
  // Region of the longest matching prefix, or "" when none matches.
  std::string_view lookup(std::string_view number) const;
  std::size_t size() const { return regions_.size(); }

 private:
  static std::string digits(std::string_view s);
  std::map<std::string, std::string, std::less<>> regions_;
  std::size_t longest_ = 0;
};

}  // namespace hotline::routing
