// hsw-vswitchd: see src/vswitchd/vswitchd.h.  The database mode's
// reconciler is wired here, above both vswitchd/ and ovsdb/.
#include "ovsdb/vswitch_reconciler.h"
#include "vswitchd/vswitchd.h"

int main(int argc, char** argv) {
  return hsw::vswitchd::VswitchdMain(
      argc, argv,
      [](hsw::EventLoop& loop, hsw::vswitchd::Vswitchd& vswitchd, const std::string& database,
         hsw::vswitchd::DatabaseConfigHooks hooks)
          -> std::unique_ptr<hsw::vswitchd::DatabaseConfigSource> {
        return std::make_unique<hsw::ovsdb::VswitchReconciler>(
            loop, vswitchd, database,
            hsw::ovsdb::VswitchReconcilerCallbacks{std::move(hooks.on_ready),
                                                   std::move(hooks.on_fatal)});
      });
}
