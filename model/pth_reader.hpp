// Reads a PyTorch checkpoint (.pth / .pt) in the zip format of torch.save (PyTorch >= 1.6).
#pragma once
#include <string>

#include "model/pickle.hpp"

namespace convdyn::model {

/// Opens the zip container, unpickles its data.pkl with the restricted unpickler and loads each
/// storage from the zip's data/<key> record. Throws IoError (missing/unreadable/corrupt file) or
/// ValueError (forbidden global, malformed pickle), each a one-line message that starts with `path`.
PyRef read_pth(const std::string& path);

/// Whether the first bytes of a file look like the torch.save zip container ("PK\3\4").
bool looks_like_zip(const std::string& head);

}  // namespace convdyn::model
