#include "analysis/sweep/shard.hpp"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>

#include "analysis/results.hpp"
#include "analysis/temporary_files.hpp"
#include "linalg/error.hpp"
#include "model/io/hdf5.hpp"

namespace convdyn::analysis::sweep {

namespace hdf5 = model::hdf5;
using hdf5::Handle;

namespace {
constexpr const char* kShardKind = "convdyn sweep shard";

Handle open_file(const std::string& path, unsigned flags) {
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "HDF5 file access properties");
  hdf5::check(H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG), "HDF5 file access properties");
  return Handle(H5Fopen(path.c_str(), flags, fapl.get()), H5Fclose, fmt::format("{}: not an HDF5 file", path));
}

void write_record(hid_t g, const ItemRecord& r) {
  hdf5::write_attr(g, "item_index", r.index);
  hdf5::write_attr(g, "status", r.status);
  hdf5::write_attr(g, "error", r.error);
  hdf5::write_attr(g, "item_seconds", r.seconds);
  hdf5::write_attr(g, "load_seconds", r.load_seconds);
  hdf5::write_attr(g, "write_seconds", r.write_seconds);
  hdf5::write_attr(g, "total_matvecs", r.matvecs);
  hdf5::write_attr(g, "item_all_converged", static_cast<long long>(r.all_converged ? 1 : 0));
  hdf5::write_attr(g, "task", r.task);
  hdf5::write_attr(g, "host", r.host);
  hdf5::write_attr(g, "finished_utc", r.finished_utc);
}

ItemRecord read_record(hid_t g, const std::string& id, const std::string& what) {
  ItemRecord r;
  r.id = id;
  r.index = hdf5::read_int_attr(g, "item_index", what);
  r.status = hdf5::read_string_attr(g, "status", what);
  r.error = hdf5::read_string_attr(g, "error", what);
  r.seconds = hdf5::read_double_attr(g, "item_seconds", what);
  r.load_seconds = hdf5::read_double_attr(g, "load_seconds", what);
  r.write_seconds = hdf5::read_double_attr(g, "write_seconds", what);
  r.matvecs = hdf5::read_int_attr(g, "total_matvecs", what);
  r.all_converged = hdf5::read_int_attr(g, "item_all_converged", what) != 0;
  r.task = hdf5::read_int_attr(g, "task", what);
  r.host = hdf5::read_string_attr(g, "host", what);
  r.finished_utc = hdf5::read_string_attr(g, "finished_utc", what);
  return r;
}

std::vector<std::string> child_names(hid_t g, const std::string& what) {
  std::vector<std::string> names;
  hdf5::check(H5Literate(
                  g, H5_INDEX_NAME, H5_ITER_INC, nullptr,
                  [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
                    static_cast<std::vector<std::string>*>(data)->emplace_back(name);
                    return 0;
                  },
                  &names),
              what);
  return names;
}
}  // namespace

Shard read_shard(const std::string& path) {
  hdf5::Silence quiet;
  Shard s;
  s.path = path;
  auto f = open_file(path, H5F_ACC_RDONLY);
  const hid_t root = f.get();
  CONVDYN_CHECK(H5Aexists(root, "kind") > 0 && hdf5::read_string_attr(root, "kind", path) == kShardKind, IoError,
                "{}: not a convdyn sweep shard file", path);
  s.plan_id = hdf5::read_string_attr(root, "plan_id", path);
  s.task = hdf5::read_int_attr(root, "task", path);
  s.tasks = hdf5::read_int_attr(root, "tasks", path);
  Handle items(H5Gopen2(root, "items", H5P_DEFAULT), H5Gclose, fmt::format("{}: group /items", path));
  for (const auto& id : child_names(items.get(), fmt::format("{}: /items", path))) {
    const std::string what = fmt::format("{}: /items/{}", path, id);
    Handle g(H5Gopen2(items.get(), id.c_str(), H5P_DEFAULT), H5Gclose, what);
    s.items.push_back(read_record(g.get(), id, what));
  }
  return s;
}

void add_to_shard(const std::string& path, const std::string& plan_id, long long task, long long tasks,
                  const ItemRecord& record, const std::string& results_file) {
  namespace fs = std::filesystem;
  const auto t0 = std::chrono::steady_clock::now();
  hdf5::Silence quiet;
  std::error_code ec;
  remove_stale_temporaries(path);  // of a task killed by SIGKILL (nothing could run) mid-update
  ReplacingFile out(path);  // declared before the HDF5 handles: they close before it removes the temporary
  const std::string& tmp = out.path();
  {
    Handle f;
    if (fs::exists(path, ec)) {
      fs::copy_file(path, tmp, fs::copy_options::overwrite_existing, ec);
      CONVDYN_CHECK(!ec, IoError, "{}: cannot write a copy ({})", path, ec.message());
      f = open_file(tmp, H5F_ACC_RDWR);
      const std::string theirs = hdf5::read_string_attr(f.get(), "plan_id", path);
      CONVDYN_CHECK(theirs == plan_id, IoError, "{}: a shard of another plan ({}, not {})", path, theirs, plan_id);
    } else {
      f = Handle(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose,
                 fmt::format("{}: cannot write", path));
      hdf5::write_attr(f.get(), "kind", std::string(kShardKind));
      hdf5::write_attr(f.get(), "plan_id", plan_id);
      hdf5::write_attr(f.get(), "task", task);
      hdf5::write_attr(f.get(), "tasks", tasks);
      Handle g(H5Gcreate2(f.get(), "items", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
               fmt::format("{}: /items", path));
    }
    const std::string what = fmt::format("{}: /items/{}", path, record.id);
    Handle items(H5Gopen2(f.get(), "items", H5P_DEFAULT), H5Gclose, what);
    if (H5Lexists(items.get(), record.id.c_str(), H5P_DEFAULT) > 0)
      hdf5::check(H5Ldelete(items.get(), record.id.c_str(), H5P_DEFAULT), what);
    Handle g(H5Gcreate2(items.get(), record.id.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose, what);
    if (!results_file.empty()) {
      auto src = open_file(results_file, H5F_ACC_RDONLY);
      hdf5::copy_attributes(src.get(), g.get(), results_file);
      for (const auto& name : child_names(src.get(), results_file))
        hdf5::check(H5Ocopy(src.get(), name.c_str(), g.get(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT),
                    fmt::format("{}: copying /{} from {}", what, name, results_file));
    }
    ItemRecord r = record;
    r.write_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    write_record(g.get(), r);
    g.reset();
    items.reset();
    f.close(fmt::format("{}: closing", path));
  }
  out.commit();
}

ResultsTotals results_totals(const std::string& results_file) {
  hdf5::Silence quiet;
  ResultsTotals t;
  auto f = open_file(results_file, H5F_ACC_RDONLY);
  // Every group (and dataset) with the attributes; H5Ovisit walks the whole file once.
  struct Ctx {
    ResultsTotals* t;
  } ctx{&t};
  hdf5::check(H5Ovisit2(
                  f.get(), H5_INDEX_NAME, H5_ITER_INC,
                  [](hid_t obj, const char* name, const H5O_info_t*, void* data) -> herr_t {
                    auto& tt = *static_cast<Ctx*>(data)->t;
                    if (H5Aexists_by_name(obj, name, "matvecs", H5P_DEFAULT) > 0) {
                      long long v = 0;
                      const hid_t a = H5Aopen_by_name(obj, name, "matvecs", H5P_DEFAULT, H5P_DEFAULT);
                      if (a >= 0 && H5Aread(a, H5T_NATIVE_LLONG, &v) >= 0) tt.matvecs += v;
                      if (a >= 0) H5Aclose(a);
                    }
                    if (H5Aexists_by_name(obj, name, "all_converged", H5P_DEFAULT) > 0) {
                      long long v = 1;
                      const hid_t a = H5Aopen_by_name(obj, name, "all_converged", H5P_DEFAULT, H5P_DEFAULT);
                      if (a >= 0 && H5Aread(a, H5T_NATIVE_LLONG, &v) >= 0 && v == 0) tt.all_converged = false;
                      if (a >= 0) H5Aclose(a);
                    }
                    return 0;
                  },
                  &ctx, H5O_INFO_BASIC),
              fmt::format("{}: reading totals", results_file));
  return t;
}

}  // namespace convdyn::analysis::sweep
