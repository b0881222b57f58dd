//! An authoritative DNS server on loopback (hickory-server, in this process) serving the root
//! zone, so every name the gateway asks for is answered here: never the internet. Records can
//! be published while it runs.

use hickory_server::Server;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::proto::rr::rdata::{MX, SOA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub struct TestDns {
    pub addr: SocketAddr,
    zone: Arc<InMemoryZoneHandler<TokioRuntimeProvider>>,
    serial: AtomicU32,
    _server: Server<Catalog>,
}

impl TestDns {
    pub async fn start() -> TestDns {
        // The root zone: names we do not publish get NXDOMAIN, not REFUSED.
        let origin = Name::root();
        let mut zone = InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
            origin.clone(),
            ZoneType::Primary,
            AxfrPolicy::Deny,
        );
        let soa = SOA::new(
            Name::from_ascii("ns.test.").unwrap(),
            Name::from_ascii("hostmaster.test.").unwrap(),
            1,
            3600,
            600,
            86400,
            60,
        );
        assert!(zone.upsert_mut(Record::from_rdata(origin.clone(), 60, RData::SOA(soa)), 1));
        let zone = Arc::new(zone);
        let mut catalog = Catalog::new();
        catalog.upsert(LowerName::from(&origin), vec![zone.clone()]);
        // UDP and TCP on the same port (a resolver falls back to TCP for large answers).
        let (udp, tcp) = loop {
            let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            if let Ok(tcp) = tokio::net::TcpListener::bind(udp.local_addr().unwrap()).await {
                break (udp, tcp);
            }
        };
        let addr = udp.local_addr().unwrap();
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 64);
        TestDns {
            addr,
            zone,
            serial: AtomicU32::new(2),
            _server: server,
        }
    }

    fn next_serial(&self) -> u32 {
        self.serial.fetch_add(1, Ordering::SeqCst)
    }

    /// Publishes a TXT record (split into 255-byte character-strings, RFC 1035 §3.3.14).
    pub async fn txt(&self, name: &str, value: &str) {
        let chunks: Vec<String> = value
            .as_bytes()
            .chunks(255)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        let record = Record::from_rdata(fqdn(name), 60, RData::TXT(TXT::new(chunks)));
        self.zone.upsert(record, self.next_serial()).await;
    }

    pub async fn mx(&self, name: &str, preference: u16, exchange: &str) {
        let record = Record::from_rdata(
            fqdn(name),
            60,
            RData::MX(MX::new(preference, fqdn(exchange))),
        );
        self.zone.upsert(record, self.next_serial()).await;
    }

    pub async fn a(&self, name: &str, ip: std::net::Ipv4Addr) {
        let record = Record::from_rdata(
            fqdn(name),
            60,
            RData::A(hickory_server::proto::rr::rdata::A(ip)),
        );
        self.zone.upsert(record, self.next_serial()).await;
    }

    /// Publishes what a domain view says to publish (`records: [{type, host, value}]`).
    pub async fn publish_all(&self, view: &serde_json::Value) {
        for r in view["records"].as_array().unwrap() {
            let host = r["host"].as_str().unwrap();
            let value = r["value"].as_str().unwrap();
            match r["type"].as_str().unwrap() {
                "MX" => {
                    let (pref, exchange) = value.split_once(' ').unwrap();
                    self.mx(host, pref.parse().unwrap(), exchange).await;
                }
                "TXT" => self.txt(host, value).await,
                other => panic!("unexpected record type {other}"),
            }
        }
    }
}

fn fqdn(name: &str) -> Name {
    Name::from_ascii(format!("{}.", name.trim_end_matches('.'))).unwrap()
}
