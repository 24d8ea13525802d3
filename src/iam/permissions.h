// iam/permissions.h — the named permissions and the built-in roles.
//
// A permission is a dotted name ("users.write"). Roles are sets of
// permissions; a user's effective permissions are the union over its roles.
// The built-in roles exist in every tenant and cannot be edited or deleted;
// custom roles are any subset of the known permissions.
//
// The role → permission matrix is documented in docs/permissions.md and
// tested route by route (tests/api/permissions_test.cpp).
#pragma once

#include <bitset>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hotline::iam {

enum class Permission : unsigned {
  UsersRead,
  UsersWrite,
  RolesRead,
  RolesWrite,
  RolesAssign,
  AuditRead,
  QueuesRead,
  QueuesWrite,
  AgentsRead,
  AgentsWrite,
  AgentsStateSelf,
  RecordingsListen,
  CustomersRead,
  CustomersWrite,
  CustomersPiiRead,
  ReportsRead,
  SettingsWrite,
  kCount
};

struct PermissionInfo {
  Permission id;
  std::string_view name;
  std::string_view description;
};

// Every permission, in enum order.
const std::vector<PermissionInfo>& all_permissions();
std::string_view permission_name(Permission p);
std::optional<Permission> permission_from_name(std::string_view name);

class PermissionSet {
 public:
  PermissionSet() = default;
  static PermissionSet all();
  void add(Permission p) { bits_.set(static_cast<unsigned>(p)); }
  bool has(Permission p) const { return bits_.test(static_cast<unsigned>(p)); }
  PermissionSet& operator|=(const PermissionSet& o) {
    bits_ |= o.bits_;
    return *this;
  }
  // True when every permission of `o` is also in this set.
  bool contains(const PermissionSet& o) const { return (o.bits_ & ~bits_).none(); }
  bool empty() const { return bits_.none(); }
  std::vector<std::string> names() const;
  // Space-separated names, sorted by enum order: the stored form.
  std::string to_storage() const;
  // Parses the stored form; unknown names are ignored (a newer schema may know more).
  static PermissionSet from_storage(std::string_view s);
  bool operator==(const PermissionSet&) const = default;

 private:
  std::bitset<static_cast<unsigned>(Permission::kCount)> bits_;
};

struct BuiltinRole {
  std::string_view name;
  std::string_view description;
  PermissionSet permissions;
};

// agent, supervisor, manager, admin, auditor.
const std::vector<BuiltinRole>& builtin_roles();

}  // namespace hotline::iam
