// routing/erlang.h — Erlang B/C staffing calculator (M/M/N, no abandonment).
//
// Numerically stable: Erlang B is computed with the recurrence
//   B(0) = 1,  B(k) = A·B(k-1) / (k + A·B(k-1))
// which never forms A^N or N! (no overflow for thousands of agents), and
// Erlang C follows from B:  C = N·B / (N − A·(1 − B)).
//
// Units: A (traffic) in Erlangs = arrival rate × mean handle time. Times are
// in seconds. When N <= A the queue is unstable: C = 1, SL = 0, ASA = +inf.
#pragma once

#include <optional>

namespace hotline::routing::erlang {

double erlang_b(int agents, double traffic);
// Probability that an arrival has to wait.
double erlang_c(int agents, double traffic);
// Fraction answered within `threshold_s`: 1 − C·exp(−(N − A)·t / AHT).
double service_level(int agents, double traffic, double aht_s, double threshold_s);
// Average speed of answer (mean wait over all calls): C·AHT / (N − A).
double average_speed_of_answer(int agents, double traffic, double aht_s);
// A / N (capped at 1).
double occupancy(int agents, double traffic);
// Smallest N meeting `target_sl` within `threshold_s`; nullopt if more than
// max_agents would be needed or the input is invalid.
std::optional<int> agents_for_service_level(double traffic, double aht_s, double threshold_s,
                                            double target_sl, int max_agents = 100000);
// Smallest N with P(wait) <= target.
std::optional<int> agents_for_wait_probability(double traffic, double target, int max_agents = 100000);

}  // namespace hotline::routing::erlang
