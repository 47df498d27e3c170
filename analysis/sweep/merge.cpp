#include "analysis/sweep/merge.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>
#include <filesystem>
#include <map>

#include "analysis/results.hpp"
#include "analysis/temporary_files.hpp"
#include "linalg/error.hpp"
#include "model/io/hdf5.hpp"

#ifndef CONVDYN_VERSION
#define CONVDYN_VERSION "unknown"
#endif

namespace convdyn::analysis::sweep {

namespace hdf5 = model::hdf5;
using hdf5::Handle;

std::size_t Progress::count(const char* status) const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < chosen.size(); ++i) {
    const auto* r = record(i);
    if (r ? r->status == status : std::string(status) == kMissing) ++n;
  }
  return n;
}

const ItemRecord* Progress::record(std::size_t item) const {
  const auto [s, r] = chosen.at(item);
  return s < 0 ? nullptr : &shards[static_cast<std::size_t>(s)].items[static_cast<std::size_t>(r)];
}

Progress read_progress(const Plan& plan, const std::vector<std::string>& shard_files) {
  Progress p;
  for (const auto& f : shard_files) {
    try {
      p.shards.push_back(read_shard(f));
    } catch (const IoError& e) {
      p.unreadable.push_back(e.what());
      continue;
    }
    CONVDYN_CHECK(p.shards.back().plan_id == plan.id, IoError,
                  "{}: a shard of another plan ({}, this folder's plan.json is {}); use a new folder per plan", f,
                  p.shards.back().plan_id, plan.id);
  }
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < plan.items.size(); ++i) index.emplace(plan.items[i].id, i);
  p.chosen.assign(plan.items.size(), {-1, -1});
  for (std::size_t s = 0; s < p.shards.size(); ++s) {
    for (std::size_t r = 0; r < p.shards[s].items.size(); ++r) {
      const auto& rec = p.shards[s].items[r];
      const auto it = index.find(rec.id);
      if (it == index.end()) continue;  // cannot happen for a shard of this plan
      auto& c = p.chosen[it->second];
      const ItemRecord* old = c.first < 0 ? nullptr : p.record(it->second);
      const bool better = !old || (rec.status == kOk && old->status != kOk) ||
                          ((rec.status == kOk) == (old->status == kOk) && rec.finished_utc > old->finished_utc);
      if (better) c = {static_cast<int>(s), static_cast<int>(r)};
    }
  }
  return p;
}

namespace {
// /sweep/index: columns added in order, written as one packed compound dataset (fixed-length UTF-8 strings,
// int64, float64), which h5py reads as a structured array and pandas.DataFrame takes as is.
class IndexTable {
 public:
  void text(const char* name, std::vector<std::string> v) {
    order_.push_back({0, static_cast<int>(texts_.size())});
    texts_.push_back({name, std::move(v)});
  }
  void i64(const char* name, std::vector<long long> v) {
    order_.push_back({1, static_cast<int>(ints_.size())});
    ints_.push_back({name, std::move(v)});
  }
  void f64(const char* name, std::vector<double> v) {
    order_.push_back({2, static_cast<int>(reals_.size())});
    reals_.push_back({name, std::move(v)});
  }

  void write(hid_t parent, const char* name, std::size_t rows, const std::string& what) const {
    std::size_t size = 0;
    struct Col {
      std::string name;
      std::size_t offset, width;
      int kind, index;
    };
    std::vector<Col> cols;
    for (const auto& [kind, idx] : order_) {
      std::size_t width = 8;
      std::string nm;
      if (kind == 0) {
        nm = texts_[static_cast<std::size_t>(idx)].first;
        width = 1;
        for (const auto& s : texts_[static_cast<std::size_t>(idx)].second) width = std::max(width, s.size());
      } else if (kind == 1) {
        nm = ints_[static_cast<std::size_t>(idx)].first;
      } else {
        nm = reals_[static_cast<std::size_t>(idx)].first;
      }
      cols.push_back({nm, size, width, kind, idx});
      size += width;
    }
    Handle type(H5Tcreate(H5T_COMPOUND, size), H5Tclose, what);
    std::vector<Handle> strings;
    for (const auto& c : cols) {
      hid_t t = c.kind == 1 ? H5T_NATIVE_LLONG : H5T_NATIVE_DOUBLE;
      if (c.kind == 0) {
        strings.emplace_back(H5Tcopy(H5T_C_S1), H5Tclose, what);
        hdf5::check(H5Tset_size(strings.back().get(), c.width), what);
        hdf5::check(H5Tset_strpad(strings.back().get(), H5T_STR_NULLPAD), what);
        hdf5::check(H5Tset_cset(strings.back().get(), H5T_CSET_UTF8), what);
        t = strings.back().get();
      }
      hdf5::check(H5Tinsert(type.get(), c.name.c_str(), c.offset, t), what);
    }
    std::vector<char> buf(std::max<std::size_t>(1, rows * size), '\0');
    for (std::size_t r = 0; r < rows; ++r) {
      char* row = buf.data() + r * size;
      for (const auto& c : cols) {
        const auto i = static_cast<std::size_t>(c.index);
        if (c.kind == 0) {
          const auto& s = texts_[i].second[r];
          std::memcpy(row + c.offset, s.data(), s.size());
        } else if (c.kind == 1) {
          std::memcpy(row + c.offset, &ints_[i].second[r], 8);
        } else {
          std::memcpy(row + c.offset, &reals_[i].second[r], 8);
        }
      }
    }
    hdf5::write_dataset(parent, name, type.get(), {static_cast<hsize_t>(rows)}, buf.data());
  }

 private:
  std::vector<std::pair<std::string, std::vector<std::string>>> texts_;
  std::vector<std::pair<std::string, std::vector<long long>>> ints_;
  std::vector<std::pair<std::string, std::vector<double>>> reals_;
  std::vector<std::pair<int, int>> order_;
};

std::string join_words(const std::vector<std::string>& words) { return fmt::format("{}", fmt::join(words, " ")); }
}  // namespace

MergeSummary merge(const Plan& plan, const Progress& progress, const std::string& out, bool force) {
  namespace fs = std::filesystem;
  hdf5::Silence quiet;
  std::error_code ec;
  CONVDYN_CHECK(force || !fs::exists(out, ec), IoError, "{}: already exists (use --force to overwrite)", out);
  const fs::path op(out);
  const fs::path dir = op.has_parent_path() ? op.parent_path() : fs::path(".");
  CONVDYN_CHECK(fs::is_directory(dir, ec), IoError, "{}: cannot write: folder '{}' does not exist", out, dir.string());
  remove_stale_temporaries(out);
  ReplacingFile file(out);  // declared before the HDF5 handles: they close before it removes the temporary
  const std::string& tmp = file.path();
  MergeSummary sum;
  sum.items = plan.items.size();
  {
    Handle f(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose,
             fmt::format("{}: cannot write", out));
    const hid_t root = f.get();
    hdf5::write_attr(root, "schema_version", static_cast<long long>(kSchemaVersion));
    hdf5::write_attr(root, "kind", std::string("sweep"));
    hdf5::write_attr(root, "convdyn_version", std::string(CONVDYN_VERSION));
    hdf5::write_attr(root, "plan_id", plan.id);
    hdf5::write_attr(root, "plan_created_utc", plan.created_utc);
    hdf5::write_attr(root, "created_utc", utc_timestamp());
    Handle items(H5Gcreate2(root, "items", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
                 fmt::format("{}: /items", out));
    // Shard files opened once each, as needed.
    std::map<int, Handle> open;
    std::vector<std::string> status, error;
    std::vector<double> seconds, load, write;
    std::vector<long long> matvecs, converged, task, index;
    for (std::size_t i = 0; i < plan.items.size(); ++i) {
      const auto& it = plan.items[i];
      const auto* r = progress.record(i);
      index.push_back(static_cast<long long>(i));
      status.push_back(r ? r->status : kMissing);
      error.push_back(r ? r->error : "");
      seconds.push_back(r ? r->seconds : 0.0);
      load.push_back(r ? r->load_seconds : 0.0);
      write.push_back(r ? r->write_seconds : 0.0);
      matvecs.push_back(r ? r->matvecs : 0);
      converged.push_back(r && r->all_converged ? 1 : 0);
      task.push_back(r ? r->task : -1);
      if (!r) {
        ++sum.missing;
        continue;
      }
      if (r->status == kOk) ++sum.ok;
      else if (r->status == kFailed) ++sum.failed;
      else ++sum.unconverged;
      const int s = progress.chosen[i].first;
      if (!open.count(s)) {
        const auto& path = progress.shards[static_cast<std::size_t>(s)].path;
        open.emplace(s, Handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose,
                               fmt::format("{}: cannot read", path)));
      }
      const std::string src = "items/" + it.id;
      hdf5::check(H5Ocopy(open.at(s).get(), src.c_str(), items.get(), it.id.c_str(), H5P_DEFAULT, H5P_DEFAULT),
                  fmt::format("{}: copying /items/{} from {}", out, it.id,
                              progress.shards[static_cast<std::size_t>(s)].path));
    }
    open.clear();
    std::vector<std::string> ids, ckpts, shas, commands, layers, options;
    for (const auto& it : plan.items) {
      ids.push_back(it.id);
      ckpts.push_back(it.checkpoint);
      shas.push_back(it.sha256);
      commands.push_back(it.command);
      layers.push_back(it.layer);
      options.push_back(join_words(it.options));
    }
    IndexTable t;
    t.i64("index", std::move(index));
    t.text("id", std::move(ids));
    t.text("checkpoint", std::move(ckpts));
    t.text("sha256", std::move(shas));
    t.text("command", std::move(commands));
    t.text("layer", std::move(layers));
    t.text("options", std::move(options));
    t.text("status", std::move(status));
    t.text("error", std::move(error));
    t.f64("seconds", std::move(seconds));
    t.f64("load_seconds", std::move(load));
    t.f64("write_seconds", std::move(write));
    t.i64("matvecs", std::move(matvecs));
    t.i64("all_converged", std::move(converged));
    t.i64("task", std::move(task));
    Handle sweep(H5Gcreate2(root, "sweep", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
                 fmt::format("{}: /sweep", out));
    t.write(sweep.get(), "index", plan.items.size(), fmt::format("{}: /sweep/index", out));
    hdf5::write_attr(sweep.get(), "items", static_cast<long long>(sum.items));
    hdf5::write_attr(sweep.get(), "ok", static_cast<long long>(sum.ok));
    hdf5::write_attr(sweep.get(), "failed", static_cast<long long>(sum.failed));
    hdf5::write_attr(sweep.get(), "unconverged", static_cast<long long>(sum.unconverged));
    hdf5::write_attr(sweep.get(), "missing", static_cast<long long>(sum.missing));
    sweep.reset();
    items.reset();
    f.close(fmt::format("{}: closing", out));
  }
  file.commit();
  return sum;
}

}  // namespace convdyn::analysis::sweep
