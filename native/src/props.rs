//! The properties of the Freshpaint table (`connector/transform/mapping.py`), the only ones the
//! transform reads; the others are read for their validity and dropped.

#[derive(Clone, Copy, Debug)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Long(i64),
    Double(f64),
    Str(&'a str),
    List, // an array of strings: never the common case of a field read here
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prop {
    SpotifyEventName,
    ActionSource,
    OptOutTargeting,
    EventSourceUrl,
    EventId,
    EventTime,
    Email,
    Phone,
    Gender,
    DeviceId,
    Ip,
    RequestIp,
    EventIp,
    UserAgent,
    PlatformId,
    SessionId,
    AliasId,
    Cookie1,
    PageId,
    ConnectionType,
    AgeGroup,
    ClickId,
    Amount,
    Currency,
    ContentName,
    ContentCategory,
}

pub const COUNT: usize = 26;

impl Prop {
    pub fn from_key(key: &str) -> Option<Prop> {
        Some(match key {
            "spotify_event_name" => Prop::SpotifyEventName,
            "$action_source" => Prop::ActionSource,
            "opt_out_targeting" => Prop::OptOutTargeting,
            "event_source_url" => Prop::EventSourceUrl,
            "$event_id" => Prop::EventId,
            "$event_time" => Prop::EventTime,
            "email" => Prop::Email,
            "phone" => Prop::Phone,
            "gender" => Prop::Gender,
            "$device_id" => Prop::DeviceId,
            "$ip" => Prop::Ip,
            "request_ip_address" => Prop::RequestIp,
            "event_ip_address" => Prop::EventIp,
            "$user_agent" => Prop::UserAgent,
            "platform_id" => Prop::PlatformId,
            "session_id" => Prop::SessionId,
            "alias_id" => Prop::AliasId,
            "cookie1" => Prop::Cookie1,
            "page_id" => Prop::PageId,
            "connection_type" => Prop::ConnectionType,
            "age_group" => Prop::AgeGroup,
            "$spclid" => Prop::ClickId,
            "amount" => Prop::Amount,
            "currency" => Prop::Currency,
            "content_name" => Prop::ContentName,
            "content_category" => Prop::ContentCategory,
            _ => return None,
        })
    }
}

/// Each property's value; a null is stored as absent, as `props.get()` reads it in Python.
#[derive(Default)]
pub struct Props<'a> {
    values: [Option<Value<'a>>; COUNT],
    /// The consent rule's property as read (a null kept as `Value::Null`), when there is a rule.
    pub consent: Option<Value<'a>>,
    /// The routing property as read, when routing is by property.
    pub route: Option<Value<'a>>,
}

impl<'a> Props<'a> {
    pub fn set(&mut self, prop: Prop, value: Value<'a>) {
        self.values[prop as usize] = match value {
            Value::Null => None,
            other => Some(other),
        };
    }

    pub fn get(&self, prop: Prop) -> Option<Value<'a>> {
        self.values[prop as usize]
    }
}
