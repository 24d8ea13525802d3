#include "iam/permissions.h"

#include <sstream>

namespace hotline::iam {

const std::vector<PermissionInfo>& all_permissions() {
  static const std::vector<PermissionInfo> list = {
      {Permission::UsersRead, "users.read", "List and view users of the tenant"},
      {Permission::UsersWrite, "users.write", "Create, update, delete users and reset passwords"},
      {Permission::RolesRead, "roles.read", "List and view roles and permissions"},
      {Permission::RolesWrite, "roles.write", "Create, update and delete custom roles"},
      {Permission::RolesAssign, "roles.assign", "Assign roles to users"},
      {Permission::AuditRead, "audit.read", "Read the audit log"},
      {Permission::QueuesRead, "queues.read", "View queues and their live state"},
      {Permission::QueuesWrite, "queues.write", "Configure queues, skills, numbers and IVR flows"},
      {Permission::AgentsRead, "agents.read", "View agents and their states"},
      {Permission::AgentsWrite, "agents.write", "Configure agents and change any agent's state"},
      {Permission::AgentsStateSelf, "agents.state.self", "Change one's own agent state"},
      {Permission::RecordingsListen, "recordings.listen", "Play and download call recordings"},
      {Permission::CustomersRead, "customers.read", "View customers with masked contact data"},
      {Permission::CustomersWrite, "customers.write", "Create and edit customers and tickets"},
      {Permission::CustomersPiiRead, "customers.pii.read", "See unmasked phone numbers and e-mail addresses"},
      {Permission::ReportsRead, "reports.read", "Real-time and historical reports"},
      {Permission::SettingsWrite, "settings.write", "Tenant-wide settings: trunks, calendars, prompts"},
  };
  return list;
}

std::string_view permission_name(Permission p) { return all_permissions().at(static_cast<unsigned>(p)).name; }

std::optional<Permission> permission_from_name(std::string_view name) {
  for (const auto& info : all_permissions()) {
    if (info.name == name) return info.id;
  }
  return std::nullopt;
}

PermissionSet PermissionSet::all() {
  PermissionSet s;
  for (const auto& info : all_permissions()) s.add(info.id);
  return s;
}

std::vector<std::string> PermissionSet::names() const {
  std::vector<std::string> out;
  for (const auto& info : all_permissions()) {
    if (has(info.id)) out.emplace_back(info.name);
  }
  return out;
}

std::string PermissionSet::to_storage() const {
  std::string out;
  for (const auto& n : names()) {
    if (!out.empty()) out += ' ';
    out += n;
  }
  return out;
}

PermissionSet PermissionSet::from_storage(std::string_view s) {
  PermissionSet out;
  std::istringstream in{std::string(s)};
  std::string word;
  while (in >> word) {
    if (auto p = permission_from_name(word)) out.add(*p);
  }
  return out;
}

namespace {

PermissionSet set_of(std::initializer_list<Permission> ps) {
  PermissionSet s;
  for (auto p : ps) s.add(p);
  return s;
}

}  // namespace

const std::vector<BuiltinRole>& builtin_roles() {
  using P = Permission;
  static const std::vector<BuiltinRole> roles = [] {
    auto agent = set_of({P::QueuesRead, P::AgentsStateSelf, P::CustomersRead, P::CustomersWrite});
    auto supervisor = agent;
    supervisor |= set_of({P::AgentsRead, P::AgentsWrite, P::UsersRead, P::RecordingsListen, P::ReportsRead,
                          P::CustomersPiiRead});
    auto manager = supervisor;
    manager |= set_of({P::QueuesWrite, P::RolesRead, P::SettingsWrite});
    auto auditor = set_of({P::AuditRead, P::UsersRead, P::RolesRead, P::ReportsRead, P::RecordingsListen});
    return std::vector<BuiltinRole>{
        {"agent", "Handles calls, chats and e-mails", agent},
        {"supervisor", "Leads a team: watches queues and agents, listens to recordings", supervisor},
        {"manager", "Runs the contact center's configuration: queues, flows, settings", manager},
        {"admin", "Everything, including users, roles and permissions", PermissionSet::all()},
        {"auditor", "Read-only access to the audit log and reports", auditor},
    };
  }();
  return roles;
}

}  // namespace hotline::iam
