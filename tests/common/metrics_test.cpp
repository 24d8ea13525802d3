#include "common/metrics.h"

#include <gtest/gtest.h>

using hotline::common::MetricsRegistry;

TEST(Metrics, RendersPrometheusTextFormat) {
  MetricsRegistry r;
  r.counter("hotline_requests_total", "Requests", {{"route", "/a"}, {"status", "200"}}).inc(3);
  r.gauge("hotline_connections", "Open connections").set(5);
  auto& h = r.histogram("hotline_latency_seconds", "Latency", {{"route", "/a"}}, {0.1, 1});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(3);
  auto text = r.render();
  EXPECT_NE(text.find("# TYPE hotline_requests_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("hotline_requests_total{route=\"/a\",status=\"200\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("hotline_connections 5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("hotline_latency_seconds_bucket{route=\"/a\",le=\"0.1\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("hotline_latency_seconds_bucket{route=\"/a\",le=\"1\"} 2\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("hotline_latency_seconds_bucket{route=\"/a\",le=\"+Inf\"} 3\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("hotline_latency_seconds_count{route=\"/a\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("hotline_latency_seconds_sum{route=\"/a\"} 3.55\n"), std::string::npos) << text;
}

TEST(Metrics, SameNameAndLabelsIsTheSameSeries) {
  MetricsRegistry r;
  auto& a = r.counter("x_total", "x", {{"k", "v"}});
  auto& b = r.counter("x_total", "x", {{"k", "v"}});
  EXPECT_EQ(&a, &b);
  EXPECT_THROW(r.gauge("x_total", "x"), std::logic_error);
}

TEST(Metrics, LabelValuesAreEscaped) {
  MetricsRegistry r;
  r.counter("y_total", "y", {{"path", "a\"b\\c\nd"}}).inc();
  EXPECT_NE(r.render().find("y_total{path=\"a\\\"b\\\\c\\nd\"} 1"), std::string::npos);
}
