-- The schema create_all() made at commit 94db797, before migrations (dumped from sqlite_master).
CREATE TABLE articles (
	id VARCHAR(80) NOT NULL, 
	type VARCHAR(20) NOT NULL, 
	current_version_id INTEGER, 
	version INTEGER NOT NULL, 
	archived BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(current_version_id) REFERENCES article_versions (id)
);
CREATE TABLE users (
	id INTEGER NOT NULL, 
	username VARCHAR(80) NOT NULL, 
	display_name VARCHAR(120) NOT NULL, 
	role VARCHAR(20) NOT NULL, 
	password_hash VARCHAR(300) NOT NULL, 
	active BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (username)
);
CREATE TABLE audit_log (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	actor VARCHAR(80) NOT NULL, 
	action VARCHAR(40) NOT NULL, 
	target VARCHAR(120) NOT NULL, 
	detail TEXT NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE suggest_log (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	user VARCHAR(80) NOT NULL, 
	text VARCHAR(2000) NOT NULL, 
	normalized VARCHAR(2000) NOT NULL, 
	result_count INTEGER NOT NULL, 
	top_score FLOAT NOT NULL, 
	top_article_id VARCHAR(80), 
	PRIMARY KEY (id)
);
CREATE TABLE call_records (
	id INTEGER NOT NULL, 
	agent VARCHAR(80) NOT NULL, 
	started_at DATETIME NOT NULL, 
	ended_at DATETIME NOT NULL, 
	duration_seconds INTEGER NOT NULL, 
	wait_seconds INTEGER NOT NULL, 
	data JSON NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE feedback (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	user VARCHAR(80) NOT NULL, 
	article_id VARCHAR(80) NOT NULL, 
	heading VARCHAR(300) NOT NULL, 
	"query" VARCHAR(2000) NOT NULL, 
	helpful BOOLEAN NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE article_drafts (
	article_id VARCHAR(80) NOT NULL, 
	base_version INTEGER NOT NULL, 
	revision INTEGER NOT NULL, 
	fields_json TEXT NOT NULL, 
	author VARCHAR(80) NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (article_id)
);
CREATE TABLE training_questions (
	id INTEGER NOT NULL, 
	"key" VARCHAR(64) NOT NULL, 
	family VARCHAR(20) NOT NULL, 
	mode VARCHAR(10) NOT NULL, 
	article_id VARCHAR(80) NOT NULL, 
	article_type VARCHAR(20) NOT NULL, 
	article_title VARCHAR(200) NOT NULL, 
	article_version INTEGER NOT NULL, 
	heading VARCHAR(300) NOT NULL, 
	source_field VARCHAR(10) NOT NULL, 
	source_text TEXT NOT NULL, 
	prompt TEXT NOT NULL, 
	options JSON NOT NULL, 
	answer JSON NOT NULL, 
	unit VARCHAR(20) NOT NULL, 
	status VARCHAR(10) NOT NULL, 
	edited BOOLEAN NOT NULL, 
	created_by VARCHAR(80) NOT NULL, 
	created_at DATETIME NOT NULL, 
	reviewed_by VARCHAR(80) NOT NULL, 
	reviewed_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE ("key")
);
CREATE TABLE training_quizzes (
	id INTEGER NOT NULL, 
	title VARCHAR(120) NOT NULL, 
	pass_mark INTEGER NOT NULL, 
	time_limit_minutes INTEGER, 
	feedback VARCHAR(10) NOT NULL, 
	status VARCHAR(10) NOT NULL, 
	created_by VARCHAR(80) NOT NULL, 
	created_at DATETIME NOT NULL, 
	published_at DATETIME, 
	PRIMARY KEY (id)
);
CREATE TABLE article_versions (
	id INTEGER NOT NULL, 
	article_id VARCHAR(80) NOT NULL, 
	number INTEGER NOT NULL, 
	title VARCHAR(200) NOT NULL, 
	type VARCHAR(20) NOT NULL, 
	meta_json TEXT NOT NULL, 
	body TEXT NOT NULL, 
	content_hash VARCHAR(64) NOT NULL, 
	author VARCHAR(80) NOT NULL, 
	message VARCHAR(500) NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (article_id, number), 
	FOREIGN KEY(article_id) REFERENCES articles (id)
);
CREATE TABLE training_quiz_items (
	id INTEGER NOT NULL, 
	quiz_id INTEGER NOT NULL, 
	question_id INTEGER NOT NULL, 
	position INTEGER NOT NULL, 
	snapshot JSON, 
	PRIMARY KEY (id), 
	UNIQUE (quiz_id, question_id), 
	FOREIGN KEY(quiz_id) REFERENCES training_quizzes (id), 
	FOREIGN KEY(question_id) REFERENCES training_questions (id)
);
CREATE TABLE training_assignments (
	id INTEGER NOT NULL, 
	quiz_id INTEGER NOT NULL, 
	username VARCHAR(80) NOT NULL, 
	assigned_by VARCHAR(80) NOT NULL, 
	assigned_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (quiz_id, username), 
	FOREIGN KEY(quiz_id) REFERENCES training_quizzes (id)
);
CREATE TABLE training_attempts (
	id INTEGER NOT NULL, 
	quiz_id INTEGER NOT NULL, 
	username VARCHAR(80) NOT NULL, 
	started_at DATETIME NOT NULL, 
	deadline DATETIME, 
	finished_at DATETIME, 
	correct INTEGER NOT NULL, 
	total INTEGER NOT NULL, 
	score FLOAT NOT NULL, 
	passed BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(quiz_id) REFERENCES training_quizzes (id)
);
CREATE TABLE training_answers (
	id INTEGER NOT NULL, 
	attempt_id INTEGER NOT NULL, 
	item_id INTEGER NOT NULL, 
	position INTEGER NOT NULL, 
	response JSON NOT NULL, 
	correct BOOLEAN NOT NULL, 
	answered_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (attempt_id, item_id), 
	FOREIGN KEY(attempt_id) REFERENCES training_attempts (id), 
	FOREIGN KEY(item_id) REFERENCES training_quiz_items (id)
);
CREATE INDEX ix_articles_type ON articles (type);
CREATE INDEX ix_audit_log_at ON audit_log (at);
CREATE INDEX ix_suggest_log_at ON suggest_log (at);
CREATE INDEX ix_suggest_log_normalized ON suggest_log (normalized);
CREATE INDEX ix_feedback_article_id ON feedback (article_id);
CREATE INDEX ix_training_questions_family ON training_questions (family);
CREATE INDEX ix_training_questions_status ON training_questions (status);
CREATE INDEX ix_training_questions_article_id ON training_questions (article_id);
CREATE INDEX ix_article_versions_content_hash ON article_versions (content_hash);
CREATE INDEX ix_article_versions_article_id ON article_versions (article_id);
CREATE INDEX ix_training_quiz_items_quiz_id ON training_quiz_items (quiz_id);
CREATE INDEX ix_training_assignments_quiz_id ON training_assignments (quiz_id);
CREATE INDEX ix_training_assignments_username ON training_assignments (username);
CREATE INDEX ix_training_attempts_quiz_id ON training_attempts (quiz_id);
CREATE INDEX ix_training_attempts_username ON training_attempts (username);
CREATE INDEX ix_training_answers_attempt_id ON training_answers (attempt_id);
