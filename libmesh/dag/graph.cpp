#include "mesh/dag/graph.hpp"

#include <algorithm>
#include <unordered_set>

#include "mesh/crypto/hash.hpp"

namespace mesh::dag {

result<void> graph::insert(const vertex_id& id, const std::vector<vertex_id>& parents) {
  if (contains(id)) {
    return fail(errc::invalid_argument, "vertex " + crypto::to_hex(id) + " is already in the DAG");
  }

  std::uint64_t height = 0;
  for (const auto& parent : parents) {
    auto it = index_.find(parent);
    if (it == index_.end()) {
      return fail(errc::not_found, "parent " + crypto::to_hex(parent) + " of vertex " +
                                       crypto::to_hex(id) + " is not in the DAG");
    }
    height = std::max(height, nodes_[it->second].height + 1);
  }

  for (const auto& parent : parents) {
    const auto parent_index = index_.at(parent);
    nodes_[parent_index].children.push_back(id);
    childless_.erase(parent_index);
  }
  childless_.insert(nodes_.size());
  index_.emplace(id, nodes_.size());
  nodes_.push_back(node{id, parents, {}, height});
  return {};
}

bool graph::contains(const vertex_id& id) const { return index_.contains(id); }

std::vector<vertex_id> graph::missing(const std::vector<vertex_id>& parents) const {
  std::vector<vertex_id> out;
  for (const auto& parent : parents) {
    if (!contains(parent)) {
      out.push_back(parent);
    }
  }
  return out;
}

const std::vector<vertex_id>& graph::parents(const vertex_id& id) const {
  return nodes_[index_.at(id)].parents;
}

const std::vector<vertex_id>& graph::children(const vertex_id& id) const {
  return nodes_[index_.at(id)].children;
}

std::uint64_t graph::height(const vertex_id& id) const { return nodes_[index_.at(id)].height; }

void graph::walk(const vertex_id& from, bool towards_parents,
                 const std::function<bool(const vertex_id&)>& visit) const {
  if (!contains(from)) {
    return;
  }
  std::unordered_set<std::size_t> seen;
  std::vector<std::size_t> stack{index_.at(from)};
  seen.insert(stack.back());

  while (!stack.empty()) {
    const auto current = stack.back();
    stack.pop_back();
    if (!visit(nodes_[current].id)) {
      continue;
    }
    const auto& next = towards_parents ? nodes_[current].parents : nodes_[current].children;
    for (const auto& id : next) {
      const auto index = index_.at(id);
      if (seen.insert(index).second) {
        stack.push_back(index);
      }
    }
  }
}

void graph::walk_ancestors(const vertex_id& from,
                           const std::function<bool(const vertex_id&)>& visit) const {
  walk(from, true, visit);
}

void graph::walk_descendants(const vertex_id& from,
                             const std::function<bool(const vertex_id&)>& visit) const {
  walk(from, false, visit);
}

bool graph::is_ancestor(const vertex_id& ancestor, const vertex_id& of) const {
  if (!contains(ancestor) || !contains(of)) {
    return false;
  }
  const auto ancestor_height = height(ancestor);
  bool found = false;
  walk_ancestors(of, [&](const vertex_id& id) {
    if (id == ancestor) {
      found = true;
    }
    // Heights strictly decrease towards the parents, so nothing below the
    // ancestor's height can lead to it.
    return !found && height(id) > ancestor_height;
  });
  return found;
}

std::vector<vertex_id> graph::tips(const std::function<bool(const vertex_id&)>& include) const {
  std::set<std::size_t> found;
  std::unordered_set<std::size_t> seen;
  std::vector<std::size_t> stack(childless_.begin(), childless_.end());
  seen.insert(stack.begin(), stack.end());

  while (!stack.empty()) {
    const auto current = stack.back();
    stack.pop_back();
    const auto& n = nodes_[current];
    if (include(n.id)) {
      // Reached through excluded vertices only, but another child may be included.
      if (std::none_of(n.children.begin(), n.children.end(), include)) {
        found.insert(current);
      }
      continue;
    }
    for (const auto& parent : n.parents) {
      const auto index = index_.at(parent);
      if (seen.insert(index).second) {
        stack.push_back(index);
      }
    }
  }

  std::vector<vertex_id> out;
  out.reserve(found.size());
  for (auto index : found) {
    out.push_back(nodes_[index].id);
  }
  return out;
}

std::vector<vertex_id> select_tips(std::vector<tip_candidate> candidates, std::size_t max_parents,
                                   std::mt19937_64& rng) {
  std::erase_if(candidates, [](const tip_candidate& c) { return !(c.weight > 0.0); });

  std::vector<vertex_id> picked;
  while (picked.size() < max_parents && !candidates.empty()) {
    double total = 0.0;
    for (const auto& candidate : candidates) {
      total += candidate.weight;
    }
    std::uniform_real_distribution<double> draw(0.0, total);
    double point = draw(rng);

    std::size_t chosen = candidates.size() - 1;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      if (point < candidates[i].weight) {
        chosen = i;
        break;
      }
      point -= candidates[i].weight;
    }
    picked.push_back(std::move(candidates[chosen].id));
    candidates.erase(candidates.begin() + static_cast<std::ptrdiff_t>(chosen));
  }

  std::sort(picked.begin(), picked.end());
  return picked;
}

}  // namespace mesh::dag
