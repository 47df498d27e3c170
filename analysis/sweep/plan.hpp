// A sweep plan: the analyses of many checkpoints as numbered items with stable ids, and their division into
// shards balanced by cost. Written once by `convdyn sweep plan` as DIR/plan.json, read by every shard.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace convdyn::analysis::sweep {

/// One analysis: a convdyn command on one checkpoint (and one operator, for per-operator commands).
struct Item {
  std::string id;          ///< 16 hex digits of SHA-256 over (checkpoint sha256, command, layer, options)
  std::string checkpoint;  ///< absolute path
  std::string sha256;      ///< of the checkpoint, at plan time ("" when the file could not be hashed)
  std::string command;     ///< spectrum | stability | eigvec
  std::string layer;       ///< operator name; "" for a whole-model command (stability)
  std::vector<std::string> options;  ///< the command's options, as command-line words
  std::int64_t cost = 1;   ///< operator size n (summed over operators for a whole-model command); balances shards
  std::string problem;     ///< found at plan time (e.g. the checkpoint cannot be read): the item will fail
};

struct Plan {
  std::string id;  ///< SHA-256 over the item ids in order (plan_id): shards and merges check it
  std::string created_utc;
  std::string convdyn_version;
  std::vector<Item> items;
};

/// The stable id of an item: the same checkpoint content, command, layer and options give the same id.
std::string item_id(const std::string& sha256, const std::string& command, const std::string& layer,
                    const std::vector<std::string>& options);
/// The id of `it`: from its sha256, or its path when the file could not be hashed.
std::string item_id(const Item& it);
std::string plan_id(const std::vector<Item>& items);

/// DIR/plan.json, written atomically (a temporary file renamed into place).
void write_plan(const Plan& plan, const std::string& path);
/// Throws IoError naming the file when it is missing, not JSON or not a plan, or when an item's id does not
/// match its fields (an edited plan).
Plan read_plan(const std::string& path);

/// The items of each of `tasks` shards (indices into plan.items): longest-processing-time-first on `cost`
/// (each item to the shard with the least total so far, ties to the lower shard), so shards take similar
/// times; within a shard the items of one checkpoint are consecutive (it is loaded once) and in plan order.
/// Deterministic: every task computes the same division.
std::vector<std::vector<std::size_t>> assign_shards(const Plan& plan, int tasks);

}  // namespace convdyn::analysis::sweep
