// A Fast DDS participant configured like rmw_fastrtps (Iron and later) that exchanges ROS 2
// messages with mbrl_ros: it reads sensor_msgs/JointState topics and publishes
// std_msgs/Float64MultiArray commands, printing one JSON line per event on stdout.
//
//   peer --domain D --range SUBNET|LOCALHOST --transport default|udp [--static-peer IP]
//        --read rt/joint_states --read rt/mbrl/state --expect N
//        --write rt/effort_controller/commands --commands M --rate HZ --timeout S
//        [--echo ACT_DIM]
//
// Streaming (default): once the writer is matched, command k = [k, 0.25 + 0.01 k, -0.5 k] is
// sent at HZ until the other side reports, in effort[0] of a sample on the first --read topic,
// that it has received M commands (at most 20 ahead of that confirmation). --echo: one command [0.25] * ACT_DIM per sample of the first
// --read topic (a lockstep controller). Exit status 0 once that is done and N samples arrived
// on every --read topic, 2 on timeout (the JSON summary says what was missing), 1 on bad usage.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fastdds/dds/domain/DomainParticipant.hpp>
#include <fastdds/dds/domain/DomainParticipantFactory.hpp>
#include <fastdds/dds/domain/qos/DomainParticipantQos.hpp>
#include <fastdds/dds/publisher/DataWriter.hpp>
#include <fastdds/dds/publisher/Publisher.hpp>
#include <fastdds/dds/subscriber/DataReader.hpp>
#include <fastdds/dds/subscriber/SampleInfo.hpp>
#include <fastdds/dds/subscriber/Subscriber.hpp>
#include <fastdds/dds/topic/Topic.hpp>
#include <fastdds/dds/topic/TypeSupport.hpp>
#include <fastdds/rtps/transport/UDPv4TransportDescriptor.h>
#include <fastdds/rtps/transport/shared_mem/SharedMemTransportDescriptor.h>
#include <fastrtps/utils/IPLocator.h>

#include "ros_typesPubSubTypes.h"

using namespace eprosima::fastdds::dds;
using eprosima::fastrtps::rtps::IPLocator;
using eprosima::fastrtps::rtps::Locator_t;
using JointState = sensor_msgs::msg::dds_::JointState_;
using Float64MultiArray = std_msgs::msg::dds_::Float64MultiArray_;

namespace {

constexpr int kWindow = 20;

struct Options {
    int domain = 0;
    std::string range = "SUBNET";
    std::string transport = "default";
    std::string whitelist;
    std::vector<std::string> static_peers;
    std::vector<std::string> reads;
    std::string write;
    int expect = 0;
    int commands = 0;
    double rate = 100.0;
    double timeout = 20.0;
    int echo = 0;
};

void json_array(const std::vector<double>& values) {
    std::printf("[");
    for (size_t i = 0; i < values.size(); ++i) {
        std::printf(i ? ",%.17g" : "%.17g", values[i]);
    }
    std::printf("]");
}

void json_strings(const std::vector<std::string>& values) {
    std::printf("[");
    for (size_t i = 0; i < values.size(); ++i) {
        // Joint names in the test are plain identifiers; nothing needs escaping.
        std::printf(i ? ",\"%s\"" : "\"%s\"", values[i].c_str());
    }
    std::printf("]");
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string key = argv[i];
        if (i + 1 >= argc) {
            std::fprintf(stderr, "missing value after %s\n", key.c_str());
            std::exit(1);
        }
        std::string value = argv[++i];
        if (key == "--domain") o.domain = std::atoi(value.c_str());
        else if (key == "--range") o.range = value;
        else if (key == "--transport") o.transport = value;
        else if (key == "--whitelist") o.whitelist = value;
        else if (key == "--static-peer") o.static_peers.push_back(value);
        else if (key == "--read") o.reads.push_back(value);
        else if (key == "--write") o.write = value;
        else if (key == "--expect") o.expect = std::atoi(value.c_str());
        else if (key == "--commands") o.commands = std::atoi(value.c_str());
        else if (key == "--rate") o.rate = std::atof(value.c_str());
        else if (key == "--timeout") o.timeout = std::atof(value.c_str());
        else if (key == "--echo") o.echo = std::atoi(value.c_str());
        else {
            std::fprintf(stderr, "unknown option %s\n", key.c_str());
            std::exit(1);
        }
    }
    if (o.range != "SUBNET" && o.range != "LOCALHOST") {
        std::fprintf(stderr, "--range must be SUBNET or LOCALHOST\n");
        std::exit(1);
    }
    if (o.transport != "default" && o.transport != "udp") {
        std::fprintf(stderr, "--transport must be default or udp\n");
        std::exit(1);
    }
    return o;
}

// rmw_fastrtps_shared_cpp participant.cpp (create_participant), Iron and later.
DomainParticipantQos participant_qos(const Options& o) {
    DomainParticipantQos qos = DomainParticipantFactory::get_instance()->get_default_participant_qos();
    if (o.range == "LOCALHOST") {
        qos.wire_protocol().builtin.metatrafficMulticastLocatorList.clear();
        Locator_t default_unicast_locator;
        qos.wire_protocol().builtin.metatrafficUnicastLocatorList.push_back(default_unicast_locator);
    }
    // ROS_STATIC_PEERS (IPv4 literals here), then localhost for LOCALHOST, as rmw_fastrtps adds them.
    for (const auto& address : o.static_peers) {
        Locator_t peer;
        IPLocator::setIPv4(peer, address);
        qos.wire_protocol().builtin.initialPeersList.push_back(peer);
    }
    if (o.range == "LOCALHOST") {
        Locator_t peer;
        IPLocator::setIPv4(peer, "127.0.0.1");
        qos.wire_protocol().builtin.initialPeersList.push_back(peer);
    }
    if (o.transport == "udp" || !o.whitelist.empty()) {
        // A user UDPv4 transport replaces the builtin UDP one; "default" keeps shared memory too.
        qos.transport().use_builtin_transports = false;
        auto udp = std::make_shared<eprosima::fastdds::rtps::UDPv4TransportDescriptor>();
        if (!o.whitelist.empty()) udp->interfaceWhiteList.push_back(o.whitelist);
        qos.transport().user_transports.push_back(udp);
        if (o.transport == "default") {
            qos.transport().user_transports.push_back(
                std::make_shared<eprosima::fastdds::rtps::SharedMemTransportDescriptor>());
        }
    }
    const std::string enclave = "enclave=/;";
    qos.user_data().assign(enclave.begin(), enclave.end());
    qos.name("/");
    qos.wire_protocol().builtin.readerHistoryMemoryPolicy =
        eprosima::fastrtps::rtps::PREALLOCATED_WITH_REALLOC_MEMORY_MODE;
    qos.wire_protocol().builtin.writerHistoryMemoryPolicy =
        eprosima::fastrtps::rtps::PREALLOCATED_WITH_REALLOC_MEMORY_MODE;
    return qos;
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    auto* factory = DomainParticipantFactory::get_instance();
    DomainParticipant* participant = factory->create_participant(o.domain, participant_qos(o));
    if (participant == nullptr) {
        std::fprintf(stderr, "create_participant failed\n");
        return 1;
    }
    TypeSupport joint_type(new sensor_msgs::msg::dds_::JointState_PubSubType());
    TypeSupport command_type(new std_msgs::msg::dds_::Float64MultiArray_PubSubType());
    joint_type.register_type(participant);
    command_type.register_type(participant);
    Subscriber* subscriber = participant->create_subscriber(SUBSCRIBER_QOS_DEFAULT);
    Publisher* publisher = participant->create_publisher(PUBLISHER_QOS_DEFAULT);

    // rmw's default profile: reliable, volatile, keep-last (deep enough to lose nothing here).
    DataReaderQos reader_qos = subscriber->get_default_datareader_qos();
    reader_qos.reliability().kind = RELIABLE_RELIABILITY_QOS;
    reader_qos.durability().kind = VOLATILE_DURABILITY_QOS;
    reader_qos.history().kind = KEEP_LAST_HISTORY_QOS;
    reader_qos.history().depth = 1000;
    reader_qos.endpoint().history_memory_policy = eprosima::fastrtps::rtps::PREALLOCATED_WITH_REALLOC_MEMORY_MODE;
    std::vector<DataReader*> readers;
    for (const auto& name : o.reads) {
        Topic* topic = participant->create_topic(name, joint_type.get_type_name(), TOPIC_QOS_DEFAULT);
        readers.push_back(subscriber->create_datareader(topic, reader_qos));
    }
    DataWriter* writer = nullptr;
    if (!o.write.empty()) {
        DataWriterQos writer_qos = publisher->get_default_datawriter_qos();
        writer_qos.reliability().kind = RELIABLE_RELIABILITY_QOS;
        writer_qos.durability().kind = VOLATILE_DURABILITY_QOS;
        writer_qos.history().kind = KEEP_LAST_HISTORY_QOS;
        writer_qos.history().depth = 1000;
        writer_qos.endpoint().history_memory_policy = eprosima::fastrtps::rtps::PREALLOCATED_WITH_REALLOC_MEMORY_MODE;
        Topic* topic = participant->create_topic(o.write, command_type.get_type_name(), TOPIC_QOS_DEFAULT);
        writer = publisher->create_datawriter(topic, writer_qos);
    }
    std::printf("{\"event\":\"ready\",\"range\":\"%s\",\"transport\":\"%s\"}\n", o.range.c_str(), o.transport.c_str());

    const auto start = std::chrono::steady_clock::now();
    const auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(1.0 / o.rate));
    auto next_send = start;
    bool matched = false;
    int sent = 0;
    double confirmed = 0.0;  // commands the other side says it has received (streaming mode)
    std::vector<int> counts(readers.size(), 0);
    auto send = [&](const std::vector<double>& data) {
        Float64MultiArray command;
        std_msgs::msg::dds_::MultiArrayDimension_ dim;
        dim.label("effort");
        dim.size(static_cast<uint32_t>(data.size()));
        dim.stride(static_cast<uint32_t>(data.size()));
        command.layout().dim().push_back(dim);
        command.data(data);
        writer->write(&command);
        ++sent;
    };
    auto commands_done = [&]() {
        if (writer == nullptr || o.commands == 0) return true;
        return o.echo > 0 ? sent >= o.commands : confirmed >= o.commands;
    };
    while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < o.timeout) {
        for (size_t r = 0; r < readers.size(); ++r) {
            JointState sample;
            SampleInfo info;
            while (readers[r]->take_next_sample(&sample, &info) == ReturnCode_t::RETCODE_OK) {
                if (!info.valid_data) continue;
                ++counts[r];
                std::printf("{\"event\":\"sample\",\"topic\":\"%s\",\"sec\":%d,\"nanosec\":%u,\"frame_id\":\"%s\",\"name\":",
                            o.reads[r].c_str(), sample.header().stamp().sec(), sample.header().stamp().nanosec(),
                            sample.header().frame_id().c_str());
                json_strings(sample.name());
                std::printf(",\"position\":");
                json_array(sample.position());
                std::printf(",\"velocity\":");
                json_array(sample.velocity());
                std::printf(",\"effort\":");
                json_array(sample.effort());
                std::printf("}\n");
                if (r == 0 && !sample.effort().empty()) confirmed = std::max(confirmed, sample.effort()[0]);
                if (r == 0 && o.echo > 0 && writer != nullptr && sent < o.commands) {
                    send(std::vector<double>(static_cast<size_t>(o.echo), 0.25));
                }
            }
        }
        const auto now = std::chrono::steady_clock::now();
        if (writer != nullptr && o.echo == 0 && !commands_done()) {
            PublicationMatchedStatus status;
            writer->get_publication_matched_status(status);
            if (!matched && status.current_count > 0) {
                matched = true;
                next_send = now;
                std::printf("{\"event\":\"matched\",\"topic\":\"%s\",\"readers\":%d}\n", o.write.c_str(),
                            status.current_count);
            }
            // At most kWindow commands unconfirmed: should one UDP datagram be lost, Cyclone holds
            // what follows in its reorder buffer (128 samples by default) until Fast DDS's next
            // heartbeat (every 3 s) lets it ask for the repair; a bounded window keeps that repairable.
            if (matched && now >= next_send && sent - confirmed < kWindow) {
                const double k = sent;
                send({k, 0.25 + 0.01 * k, -0.5 * k});
                next_send += period;
            }
        }
        bool done = commands_done();
        for (int c : counts) done = done && c >= o.expect;
        if (done) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    bool complete = commands_done();
    std::printf("{\"event\":\"summary\",\"sent\":%d,\"confirmed\":%.0f,\"received\":{", sent, confirmed);
    for (size_t r = 0; r < readers.size(); ++r) {
        std::printf(r ? ",\"%s\":%d" : "\"%s\":%d", o.reads[r].c_str(), counts[r]);
        complete = complete && counts[r] >= o.expect;
    }
    std::printf("}}\n");
    participant->delete_contained_entities();
    factory->delete_participant(participant);
    return complete ? 0 : 2;
}
