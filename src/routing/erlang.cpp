#include "routing/erlang.h"

#include <cmath>
#include <limits>

namespace hotline::routing::erlang {

double erlang_b(int agents, double traffic) {
  if (agents <= 0) return 1.0;
  if (traffic <= 0) return 0.0;
  double b = 1.0;
  for (int k = 1; k <= agents; ++k) b = traffic * b / (k + traffic * b);
  return b;
}

double erlang_c(int agents, double traffic) {
  if (traffic <= 0) return 0.0;
  if (agents <= traffic) return 1.0;
  const double b = erlang_b(agents, traffic);
  return agents * b / (agents - traffic * (1.0 - b));
}

double service_level(int agents, double traffic, double aht_s, double threshold_s) {
  if (traffic <= 0) return 1.0;
  if (agents <= traffic || aht_s <= 0) return 0.0;
  const double c = erlang_c(agents, traffic);
  return 1.0 - c * std::exp(-(agents - traffic) * threshold_s / aht_s);
}

double average_speed_of_answer(int agents, double traffic, double aht_s) {
  if (traffic <= 0) return 0.0;
  if (agents <= traffic) return std::numeric_limits<double>::infinity();
  return erlang_c(agents, traffic) * aht_s / (agents - traffic);
}

double occupancy(int agents, double traffic) {
  if (agents <= 0) return 1.0;
  const double o = traffic / agents;
  return o > 1.0 ? 1.0 : o;
}

std::optional<int> agents_for_service_level(double traffic, double aht_s, double threshold_s,
                                            double target_sl, int max_agents) {
  if (!(traffic >= 0) || !(aht_s > 0) || !(target_sl >= 0) || target_sl >= 1.0 || threshold_s < 0)
    return std::nullopt;
  int n = static_cast<int>(std::floor(traffic)) + 1;
  if (n < 1) n = 1;
  for (; n <= max_agents; ++n)
    if (service_level(n, traffic, aht_s, threshold_s) >= target_sl) return n;
  return std::nullopt;
}

std::optional<int> agents_for_wait_probability(double traffic, double target, int max_agents) {
  if (!(traffic >= 0) || !(target > 0)) return std::nullopt;
  int n = static_cast<int>(std::floor(traffic)) + 1;
  for (; n <= max_agents; ++n)
    if (erlang_c(n, traffic) <= target) return n;
  return std::nullopt;
}

}  // namespace hotline::routing::erlang
