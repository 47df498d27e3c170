// Reads a PyTorch checkpoint (.pth / .pt) in the zip format of torch.save (PyTorch >= 1.6).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "model/io/pickle.hpp"

namespace convdyn::model {

/// Opens the zip container, unpickles its data.pkl with the restricted unpickler and loads each
/// storage from the zip's data/<key> record. Throws IoError (missing/unreadable/corrupt file) or
/// ValueError (forbidden global, malformed pickle), each a one-line message that starts with `path`.
/// Resource limits: every zip entry's declared size is checked against the file size before LibTorch
/// allocates it, and every storage's element count before it is read.
PyRef read_pth(const std::string& path);

/// The same from a checkpoint already in memory (`size` bytes at `data`, not copied; they must outlive
/// the call); `name` starts the error messages. Used by the fuzz target fuzz_pth (no file system).
PyRef read_pth(const std::uint8_t* data, std::size_t size, const std::string& name = "<memory>");

/// Whether the first bytes of a file look like the torch.save zip container ("PK\3\4").
bool looks_like_zip(const std::string& head);

}  // namespace convdyn::model
