-- The record's schema as PostGuard made it before migrations (commit 1dd78e4), dumped from SQLite.
CREATE TABLE events (
	seq INTEGER NOT NULL, 
	id VARCHAR(36) NOT NULL, 
	time DATETIME NOT NULL, 
	rule VARCHAR(80) NOT NULL, 
	severity VARCHAR(10) NOT NULL, 
	decision VARCHAR(20) NOT NULL, 
	user VARCHAR(120), 
	device VARCHAR(120), 
	host VARCHAR(255), 
	path VARCHAR(300), 
	source VARCHAR(20), 
	reason VARCHAR(300), 
	message TEXT, 
	clauses TEXT, 
	evidence TEXT, 
	purged BOOLEAN NOT NULL, 
	digest VARCHAR(64) NOT NULL, 
	prev_hash VARCHAR(64) NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	PRIMARY KEY (seq), 
	UNIQUE (id)
);
CREATE INDEX ix_events_time ON events (time, seq);
CREATE INDEX ix_events_device_time ON events (device, time, seq);
CREATE INDEX ix_events_rule_time ON events (rule, time, seq);
CREATE INDEX ix_events_decision_time ON events (decision, time, seq);
CREATE INDEX ix_events_user_rule_time ON events (user, rule, time, seq);
CREATE INDEX ix_events_user_time ON events (user, time, seq);
CREATE INDEX ix_events_host_time ON events (host, time, seq);
CREATE INDEX ix_events_overview ON events (time, purged, rule, decision, host);
CREATE INDEX ix_events_severity_time ON events (severity, time, seq);
CREATE TABLE chain_head (
	name VARCHAR(20) NOT NULL, 
	seq BIGINT NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	PRIMARY KEY (name)
);
CREATE TABLE audit (
	seq INTEGER NOT NULL, 
	time DATETIME NOT NULL, 
	actor VARCHAR(120) NOT NULL, 
	action VARCHAR(60) NOT NULL, 
	detail TEXT, 
	prev_hash VARCHAR(64) NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	PRIMARY KEY (seq)
);
CREATE TABLE settings (
	"key" VARCHAR(80) NOT NULL, 
	value TEXT NOT NULL, 
	PRIMARY KEY ("key")
);
CREATE TABLE admin_sessions (
	id VARCHAR(64) NOT NULL, 
	account VARCHAR(120) NOT NULL, 
	created FLOAT NOT NULL, 
	last_seen FLOAT NOT NULL, 
	PRIMARY KEY (id)
);
