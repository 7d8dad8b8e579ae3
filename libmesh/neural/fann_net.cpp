// FANN's .net text format (FANN_FLO_2.1), written in the order fann_save
// writes it so that fann_create_from_file (which reads the keys in a fixed
// order) loads it, and read back for fully connected layered networks.

#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "mesh/neural/codec.hpp"
#include "neural/text_parsing.hpp"

namespace mesh::neural {
namespace {

using detail::decode_error_at;

constexpr std::string_view fann_version = "FANN_FLO_2.1";

std::string format_double(const char* format, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), format, value);
  return buffer;
}

// "%.20e", FANNPRINTF of floatfann and doublefann.
std::string exact(double value) { return format_double("%.20e", value); }
// "%f", which fann_save uses for the float training parameters.
std::string fixed(double value) { return format_double("%f", value); }

struct header_value {
  std::string text;
  std::size_t line = 0;
};

// The "(a, b, c)" groups after '=' on a neurons or connections line.
result<std::vector<std::vector<std::string_view>>> parse_groups(std::string_view line,
                                                                std::size_t expected_fields,
                                                                std::string_view source,
                                                                std::size_t line_number) {
  std::vector<std::vector<std::string_view>> groups;
  std::size_t position = line.find('=');
  if (position == std::string_view::npos) {
    return decode_error_at(source, line_number, "missing '=' before the list");
  }
  ++position;
  while (true) {
    const std::size_t open = line.find('(', position);
    if (open == std::string_view::npos) {
      if (!detail::is_blank(line.substr(position))) {
        return decode_error_at(source, line_number,
                               "unexpected text '" + std::string(detail::trim(line.substr(position))) +
                                   "' in the list");
      }
      return groups;
    }
    if (!detail::is_blank(line.substr(position, open - position))) {
      return decode_error_at(source, line_number, "unexpected text before '(' in the list");
    }
    const std::size_t close = line.find(')', open);
    if (close == std::string_view::npos) {
      return decode_error_at(source, line_number, "unclosed '(' in the list (truncated?)");
    }
    std::vector<std::string_view> fields;
    std::string_view inner = line.substr(open + 1, close - open - 1);
    while (true) {
      const std::size_t comma = inner.find(',');
      fields.push_back(detail::trim(inner.substr(0, comma)));
      if (comma == std::string_view::npos) {
        break;
      }
      inner.remove_prefix(comma + 1);
    }
    if (fields.size() != expected_fields) {
      return decode_error_at(source, line_number,
                             "entry " + std::to_string(groups.size() + 1) + " has " +
                                 std::to_string(fields.size()) + " fields, expected " +
                                 std::to_string(expected_fields));
    }
    groups.push_back(std::move(fields));
    position = close + 1;
  }
}

}  // namespace

result<std::string> export_fann_net(const network& net, const training_params& params) {
  const auto& layers = net.layout().layers;
  for (std::size_t l = 1; l < layers.size(); ++l) {
    if (!fann_code(layers[l].activation)) {
      return fail(errc::invalid_argument,
                  "layer " + std::to_string(l) + " uses activation " +
                      std::string(to_string(layers[l].activation)) +
                      ", which FANN 2.2 does not have; such a network cannot be exported to .net");
    }
  }

  const unsigned algorithm = params.algorithm == training_algorithm::adam
                                 ? static_cast<unsigned>(training_algorithm::rprop)
                                 : static_cast<unsigned>(params.algorithm);
  std::string text;
  const auto line = [&text](std::string_view key, const std::string& value) {
    text += key;
    text += '=';
    text += value;
    text += '\n';
  };

  text += fann_version;
  text += '\n';
  line("num_layers", std::to_string(layers.size()));
  line("learning_rate", fixed(params.learning_rate));
  line("connection_rate", fixed(1.0));
  line("network_type", "0");
  line("learning_momentum", fixed(params.learning_momentum));
  line("training_algorithm", std::to_string(algorithm));
  line("train_error_function", std::to_string(static_cast<unsigned>(params.error)));
  line("train_stop_function", "0");
  // Cascade-correlation parameters are not used here; these are FANN 2.2's
  // defaults, written because fann_create_from_file requires every line.
  line("cascade_output_change_fraction", fixed(0.01));
  line("quickprop_decay", fixed(params.quickprop_decay));
  line("quickprop_mu", fixed(params.quickprop_mu));
  line("rprop_increase_factor", fixed(params.rprop_increase_factor));
  line("rprop_decrease_factor", fixed(params.rprop_decrease_factor));
  line("rprop_delta_min", fixed(params.rprop_delta_min));
  line("rprop_delta_max", fixed(params.rprop_delta_max));
  line("rprop_delta_zero", fixed(params.rprop_delta_zero));
  line("cascade_output_stagnation_epochs", "12");
  line("cascade_candidate_change_fraction", fixed(0.01));
  line("cascade_candidate_stagnation_epochs", "12");
  line("cascade_max_out_epochs", "150");
  line("cascade_min_out_epochs", "50");
  line("cascade_max_cand_epochs", "150");
  line("cascade_min_cand_epochs", "50");
  line("cascade_num_candidate_groups", "2");
  line("bit_fail_limit", exact(params.bit_fail_limit));
  line("cascade_candidate_limit", exact(1000.0));
  line("cascade_weight_multiplier", exact(static_cast<double>(0.4f)));
  line("cascade_activation_functions_count", "10");
  line("cascade_activation_functions", "3 5 7 8 10 11 14 15 16 17 ");
  line("cascade_activation_steepnesses_count", "4");
  line("cascade_activation_steepnesses",
       exact(0.25) + " " + exact(0.5) + " " + exact(0.75) + " " + exact(1.0) + " ");

  std::string sizes;
  for (const layer_spec& layer : layers) {
    sizes += std::to_string(layer.size + 1) + " ";
  }
  line("layer_sizes", sizes);
  line("scale_included", "0");

  // Every neuron, bias neurons included: (num_inputs, activation, steepness).
  std::string neurons;
  const std::string bias_entry = std::string("(0, 0, ").append(exact(0.0)).append(") ");
  for (std::size_t l = 0; l < layers.size(); ++l) {
    std::string entry = bias_entry;
    if (l > 0) {
      // Appended piece by piece: GCC 12 reports a false -Wrestrict for
      // "literal" + std::string at -O3.
      entry = std::string("(");
      entry.append(std::to_string(layers[l - 1].size + 1)).append(", ");
      entry.append(std::to_string(*fann_code(layers[l].activation))).append(", ");
      entry.append(exact(layers[l].steepness)).append(") ");
    }
    for (std::size_t n = 0; n < layers[l].size; ++n) {
      neurons += entry;
    }
    neurons += bias_entry;
  }
  line("neurons (num_inputs, activation_function, activation_steepness)", neurons);

  // Each neuron's connections go to every neuron of the previous layer, its
  // bias neuron last, by global neuron index.
  std::string connections;
  std::size_t previous_first = 0;
  for (std::size_t l = 1; l < layers.size(); ++l) {
    const weight_matrix& weights = net.layer_weights(l);
    for (Eigen::Index row = 0; row < weights.rows(); ++row) {
      for (Eigen::Index col = 0; col < weights.cols(); ++col) {
        connections += '(';
        connections += std::to_string(previous_first + static_cast<std::size_t>(col));
        connections += ", ";
        connections += exact(weights(row, col));
        connections += ") ";
      }
    }
    previous_first += layers[l - 1].size + 1;
  }
  line("connections (connected_to_neuron, weight)", connections);
  return text;
}

result<void> save_fann_net(const network& net, const std::filesystem::path& path,
                           const training_params& params) {
  auto text = export_fann_net(net, params);
  if (!text) {
    return text.err();
  }
  return detail::write_file_bytes(path, *text);
}

result<fann_net> import_fann_net(std::string_view text, std::string_view source) {
  detail::line_reader reader(text);
  std::string_view line;
  if (!reader.next(line) || detail::trim(line) != fann_version) {
    return decode_error_at(source, reader.line_number(),
                           "expected the version line '" + std::string(fann_version) +
                               "' (the float format fann_save writes); found '" +
                               std::string(detail::trim(line)) + "'");
  }

  std::map<std::string, header_value, std::less<>> header;
  std::string_view neurons_line;
  std::string_view connections_line;
  std::size_t neurons_line_number = 0;
  std::size_t connections_line_number = 0;
  while (reader.next(line)) {
    if (detail::is_blank(line)) {
      continue;
    }
    if (line.starts_with("neurons (")) {
      neurons_line = line;
      neurons_line_number = reader.line_number();
      continue;
    }
    if (line.starts_with("connections (")) {
      connections_line = line;
      connections_line_number = reader.line_number();
      continue;
    }
    const std::size_t equals = line.find('=');
    if (equals == std::string_view::npos) {
      return decode_error_at(source, reader.line_number(),
                             "expected 'key=value', found '" + std::string(line) + "'");
    }
    header[std::string(detail::trim(line.substr(0, equals)))] =
        header_value{std::string(detail::trim(line.substr(equals + 1))), reader.line_number()};
  }
  if (neurons_line.empty() || connections_line.empty()) {
    return decode_error_at(source, reader.line_number(),
                           "the neurons or connections line is missing (truncated?)");
  }

  const auto find = [&](std::string_view key) -> result<header_value> {
    const auto it = header.find(key);
    if (it == header.end()) {
      return decode_error_at(source, reader.line_number(),
                             "required key '" + std::string(key) + "' is missing");
    }
    return it->second;
  };
  const auto number = [&](std::string_view key) -> result<double> {
    auto entry = find(key);
    if (!entry) {
      return entry.err();
    }
    const auto value = detail::parse_finite(entry->text);
    if (!value) {
      return decode_error_at(source, entry->line,
                             "value of '" + std::string(key) + "' is not a finite number: '" +
                                 entry->text + "'");
    }
    return *value;
  };
  // Collects the first error of several look-ups.
  std::optional<error> first_error;
  const auto take = [&](std::string_view key) -> double {
    auto value = number(key);
    if (!value) {
      if (!first_error) {
        first_error = value.err();
      }
      return 0.0;
    }
    return *value;
  };

  const double num_layers = take("num_layers");
  const double network_type = take("network_type");
  const double connection_rate = take("connection_rate");
  const double scale_included = header.contains("scale_included") ? take("scale_included") : 0.0;
  training_params params;
  params.learning_rate = static_cast<scalar>(take("learning_rate"));
  params.learning_momentum = static_cast<scalar>(take("learning_momentum"));
  const double algorithm = take("training_algorithm");
  const double error_code = take("train_error_function");
  params.quickprop_decay = static_cast<scalar>(take("quickprop_decay"));
  params.quickprop_mu = static_cast<scalar>(take("quickprop_mu"));
  params.rprop_increase_factor = static_cast<scalar>(take("rprop_increase_factor"));
  params.rprop_decrease_factor = static_cast<scalar>(take("rprop_decrease_factor"));
  params.rprop_delta_min = static_cast<scalar>(take("rprop_delta_min"));
  params.rprop_delta_max = static_cast<scalar>(take("rprop_delta_max"));
  params.rprop_delta_zero = static_cast<scalar>(take("rprop_delta_zero"));
  params.bit_fail_limit = static_cast<scalar>(take("bit_fail_limit"));
  if (first_error) {
    return *first_error;
  }

  if (network_type != 0.0) {
    return decode_error_at(source, header.at("network_type").line,
                           "network_type " + fixed(network_type) +
                               " (shortcut) is not supported; only layered networks (0)");
  }
  if (connection_rate < 1.0) {
    return decode_error_at(source, header.at("connection_rate").line,
                           "connection_rate " + fixed(connection_rate) +
                               " (sparse) is not supported; only fully connected networks (1)");
  }
  if (scale_included != 0.0) {
    return decode_error_at(source, header.at("scale_included").line,
                           "scaling parameters in a .net file are not supported; store scaling in "
                           "the protobuf model instead");
  }
  // FANN 2.2 codes: 0 incremental, 1 batch, 2 iRPROP-, 3 quickprop, 4 SARPROP.
  // SARPROP is not implemented here and is read as iRPROP-.
  if (algorithm < 0 || algorithm > 4 || algorithm != std::floor(algorithm)) {
    return decode_error_at(source, header.at("training_algorithm").line,
                           "training_algorithm " + fixed(algorithm) + " is not one of 0 to 4");
  }
  params.algorithm = algorithm >= 4 ? training_algorithm::rprop
                                    : static_cast<training_algorithm>(static_cast<int>(algorithm));
  if (error_code != 0.0 && error_code != 1.0) {
    return decode_error_at(source, header.at("train_error_function").line,
                           "train_error_function " + fixed(error_code) + " is not 0 or 1");
  }
  params.error = error_code == 0.0 ? error_function::linear : error_function::tanh;

  // Layer sizes include each layer's bias neuron.
  auto sizes_entry = find("layer_sizes");
  if (!sizes_entry) {
    return sizes_entry.err();
  }
  std::vector<std::size_t> sizes;
  {
    std::string_view rest = sizes_entry->text;
    while (!detail::is_blank(rest)) {
      rest = detail::trim(rest);
      const std::size_t space = rest.find_first_of(" \t");
      const auto size = detail::parse_count(rest.substr(0, space));
      if (!size || *size < 2) {
        return decode_error_at(source, sizes_entry->line,
                               "layer_sizes entry '" + std::string(rest.substr(0, space)) +
                                   "' is not an integer >= 2");
      }
      sizes.push_back(*size);
      rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space);
    }
  }
  if (num_layers != static_cast<double>(sizes.size()) || sizes.size() < 2) {
    return decode_error_at(source, sizes_entry->line,
                           "num_layers is " + fixed(num_layers) + " but layer_sizes lists " +
                               std::to_string(sizes.size()) + " layers");
  }

  auto neuron_groups = parse_groups(neurons_line, 3, source, neurons_line_number);
  if (!neuron_groups) {
    return neuron_groups.err();
  }
  std::size_t total_neurons = 0;
  for (std::size_t size : sizes) {
    total_neurons += size;
  }
  if (neuron_groups->size() != total_neurons) {
    return decode_error_at(source, neurons_line_number,
                           "layer_sizes add up to " + std::to_string(total_neurons) +
                               " neurons, the neurons line has " +
                               std::to_string(neuron_groups->size()));
  }

  topology shape;
  std::size_t neuron = 0;
  for (std::size_t l = 0; l < sizes.size(); ++l) {
    layer_spec layer{sizes[l] - 1, activation_function::linear, 0.5f};
    for (std::size_t n = 0; n < sizes[l]; ++n, ++neuron) {
      const auto& fields = (*neuron_groups)[neuron];
      const auto inputs = detail::parse_count(fields[0]);
      const auto code = detail::parse_count(fields[1]);
      const auto steepness = detail::parse_finite(fields[2]);
      if (!inputs || !code || !steepness) {
        return decode_error_at(source, neurons_line_number,
                               "neuron " + std::to_string(neuron) + " has a malformed entry");
      }
      const bool is_bias = n + 1 == sizes[l];
      const std::size_t expected_inputs = (l == 0 || is_bias) ? 0 : sizes[l - 1];
      if (*inputs != expected_inputs) {
        return decode_error_at(source, neurons_line_number,
                               "neuron " + std::to_string(neuron) + " has " +
                                   std::to_string(*inputs) + " inputs, a fully connected layer needs " +
                                   std::to_string(expected_inputs));
      }
      if (l == 0 || is_bias) {
        continue;
      }
      const auto function = activation_from_fann_code(static_cast<unsigned>(*code));
      if (!function) {
        return decode_error_at(source, neurons_line_number,
                               "neuron " + std::to_string(neuron) + " has unsupported activation code " +
                                   std::to_string(*code));
      }
      if (n == 0) {
        layer.activation = *function;
        layer.steepness = static_cast<scalar>(*steepness);
      } else if (layer.activation != *function || layer.steepness != static_cast<scalar>(*steepness)) {
        return decode_error_at(source, neurons_line_number,
                               "neuron " + std::to_string(neuron) + " of layer " + std::to_string(l) +
                                   " differs in activation or steepness from the layer's first "
                                   "neuron; only one activation per layer is supported");
      }
    }
    shape.layers.push_back(layer);
  }

  auto net = network::create(shape);
  if (!net) {
    return decode_error_at(source, neurons_line_number, net.err().message);
  }

  auto connection_groups = parse_groups(connections_line, 2, source, connections_line_number);
  if (!connection_groups) {
    return connection_groups.err();
  }
  if (connection_groups->size() != net->num_weights()) {
    return decode_error_at(source, connections_line_number,
                           "the layers need " + std::to_string(net->num_weights()) +
                               " connections, the file has " +
                               std::to_string(connection_groups->size()));
  }

  std::vector<scalar> weights;
  weights.reserve(net->num_weights());
  std::size_t connection = 0;
  std::size_t previous_first = 0;
  for (std::size_t l = 1; l < sizes.size(); ++l) {
    for (std::size_t n = 0; n + 1 < sizes[l]; ++n) {
      for (std::size_t i = 0; i < sizes[l - 1]; ++i, ++connection) {
        const auto& fields = (*connection_groups)[connection];
        const auto target = detail::parse_count(fields[0]);
        const auto weight = detail::parse_finite(fields[1]);
        if (!target || *target != previous_first + i) {
          return decode_error_at(source, connections_line_number,
                                 "connection " + std::to_string(connection) + " goes to neuron '" +
                                     std::string(fields[0]) + "', a layered network needs " +
                                     std::to_string(previous_first + i));
        }
        if (!weight) {
          return decode_error_at(source, connections_line_number,
                                 "connection " + std::to_string(connection) + " has weight '" +
                                     std::string(fields[1]) + "', not a finite number");
        }
        weights.push_back(static_cast<scalar>(*weight));
      }
    }
    previous_first += sizes[l - 1];
  }
  if (auto set = net->set_weights(weights); !set) {
    return decode_error_at(source, connections_line_number, set.err().message);
  }
  return fann_net{std::move(*net), params};
}

result<fann_net> load_fann_net(const std::filesystem::path& path) {
  auto bytes = detail::read_file_bytes(path);
  if (!bytes) {
    return bytes.err();
  }
  return import_fann_net(*bytes, path.string());
}

}  // namespace mesh::neural
