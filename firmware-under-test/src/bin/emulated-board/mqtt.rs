//! The MQTT edge of the host boards (`emulated-board`, and `fleet-board`, which includes
//! this file): the core's MQTT actions as the rumqttc packets to send, and a packet from
//! the broker as the core's input. Encoding and framing are rumqttc's.

use firmware_under_test::board::{Action, Input, Qos};
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::{Connect, Packet, PubAck, Publish, Subscribe, SubscribeFilter};

fn mqtt_qos(qos: Qos) -> QoS {
    match qos {
        Qos::AtMostOnce => QoS::AtMostOnce,
        Qos::AtLeastOnce => QoS::AtLeastOnce,
    }
}

/// The packet `action` sends; `None` for an action that is not an MQTT packet.
pub fn packet_of(action: &Action) -> Option<Packet> {
    Some(match action {
        Action::MqttConnect {
            client_id,
            keep_alive_secs,
            clean_session,
        } => {
            let mut connect = Connect::new(client_id.as_str());
            connect.keep_alive = *keep_alive_secs;
            connect.clean_session = *clean_session;
            Packet::Connect(connect)
        }
        Action::MqttPublish {
            topic,
            payload,
            qos,
            pkid,
            dup,
            retain,
        } => {
            let mut publish = Publish::new(topic.as_str(), mqtt_qos(*qos), payload.as_bytes());
            publish.pkid = *pkid;
            publish.dup = *dup;
            publish.retain = *retain;
            Packet::Publish(publish)
        }
        Action::MqttSubscribe { filters, pkid } => {
            let mut subscribe = Subscribe::new_many(
                filters
                    .iter()
                    .map(|f| SubscribeFilter::new(f.as_str().to_owned(), QoS::AtLeastOnce)),
            );
            subscribe.pkid = *pkid;
            Packet::Subscribe(subscribe)
        }
        Action::MqttPubAck { pkid } => Packet::PubAck(PubAck::new(*pkid)),
        Action::MqttPing => Packet::PingReq,
        _ => return None,
    })
}

/// The core's input for a packet from the broker; `None` for one the core does not take.
pub fn input_of(packet: &Packet) -> Option<Input<'_>> {
    Some(match packet {
        Packet::ConnAck(ack) => Input::ConnAck {
            accepted: ack.code == rumqttc::mqttbytes::v4::ConnectReturnCode::Success,
            session_present: ack.session_present,
        },
        Packet::Publish(publish) => Input::Publish {
            topic: &publish.topic,
            payload: &publish.payload,
            qos: match publish.qos {
                QoS::AtMostOnce => Qos::AtMostOnce,
                _ => Qos::AtLeastOnce,
            },
            pkid: publish.pkid,
        },
        Packet::PubAck(ack) => Input::PubAck { pkid: ack.pkid },
        Packet::SubAck(ack) => Input::SubAck { pkid: ack.pkid },
        Packet::PingResp => Input::PingResp,
        _ => return None,
    })
}
