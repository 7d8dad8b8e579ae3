#pragma once
// Completes an HTTP request with the reply of an actor without blocking the
// HTTP io thread: a short-lived actor sends the request, waits for the reply
// and completes the responder, or replies 503 when the actor fails or does
// not reply in time.
//
//   actors::ask<dag_tips>(system, dag, std::move(respond), timeout,
//                         [](dag_tips& tips) { return http::response{...}; },
//                         tips_atom::value);

#include <caf/all.hpp>

#include <chrono>
#include <string>
#include <utility>

#include "mesh/http/server.hpp"

namespace mesh::actors {

template <class Reply, class OnReply, class... Ts>
void ask(caf::actor_system& system, const caf::actor& target, http::responder respond,
         std::chrono::milliseconds timeout, OnReply on_reply, Ts... request) {
  if (!target) {
    respond(http::error_response(503, "unavailable", "the service is not running on this node"));
    return;
  }
  // The target travels as a spawn argument: CAF 0.17 reads an empty argument
  // tuple out of bounds when a spawned function takes only `self`.
  system.spawn(
      [respond = std::move(respond), timeout, on_reply = std::move(on_reply),
       request...](caf::event_based_actor* self, const caf::actor& destination) mutable {
        self->request(destination, timeout, std::move(request)...)
            .then(
                [respond, on_reply](Reply& reply) mutable { respond(on_reply(reply)); },
                [respond, self](const caf::error& err) mutable {
                  respond(http::error_response(503, "unavailable",
                                               "no reply from the service: " + self->system().render(err)));
                });
      },
      target);
}

}  // namespace mesh::actors
