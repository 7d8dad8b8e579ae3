// Wiring of the neural mesh into mesh::node. The neural manager is not part
// of this revision: no actor is spawned, no route is added, and neural
// messages from peers are dropped and counted as malformed.

#include "node_impl.hpp"

namespace mesh {

void node::impl::spawn_neural() {}

wire::handler node::impl::neural_handler() {
  return [](mesh::v1::Envelope&&) -> result<void> {
    return fail(errc::rejected, "this node runs no neural manager");
  };
}

void node::impl::start_neural() {}

void node::impl::add_neural_routes(http::router&) const {}

}  // namespace mesh
