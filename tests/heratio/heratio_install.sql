# Heratio's two tables of its ahg-image-ar package, as its database/install.sql makes them on a
# Heratio install (MySQL 8 / MariaDB, utf8mb4; column types as ../shared/REFERENCE.md section 2
# records them; key names, mind_compile_secs DECIMAL(6,2) and the settings' 'string' default as
# a live install's SHOW CREATE TABLE shows them, issue 23 item 7), and its settings rows as Heratio seeds them: ar_server_url holds the
# private-network address of the install's own video node, which Heratio itself ignores (it
# routes through its AI gateway).

CREATE TABLE IF NOT EXISTS `object_image_ar` (
	`id` INT NOT NULL AUTO_INCREMENT,
	`object_id` INT NOT NULL,
	`digital_object_id` INT NULL,
	`mp4_filename` VARCHAR(255) NULL,
	`mp4_path` VARCHAR(500) NULL,
	`mp4_size` BIGINT NULL,
	`mp4_duration_secs` DECIMAL(4,2) NULL,
	`mp4_width` INT NULL,
	`mp4_height` INT NULL,
	`mp4_fps` INT NULL,
	`mp4_motion` VARCHAR(64) NULL,
	`ai_model` VARCHAR(64) NULL,
	`ai_prompt` TEXT NULL,
	`ai_seed` BIGINT NULL,
	`ai_motion_bucket_id` INT NULL,
	`generation_secs` DECIMAL(7,2) NULL,
	`mind_filename` VARCHAR(255) NULL,
	`mind_path` VARCHAR(500) NULL,
	`mind_size` BIGINT NULL,
	`mind_compile_secs` DECIMAL(6,2) NULL,
	`created_by` INT NULL,
	`created_at` DATETIME NULL,
	`updated_at` DATETIME NULL,
	PRIMARY KEY (`id`),
	UNIQUE KEY `uq_object_image_ar_object` (`object_id`),
	KEY `idx_digital_object_id` (`digital_object_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS `image_ar_settings` (
	`id` INT NOT NULL AUTO_INCREMENT,
	`setting_key` VARCHAR(100) NOT NULL,
	`setting_value` TEXT NULL,
	`setting_type` VARCHAR(32) NULL DEFAULT 'string',
	`description` VARCHAR(500) NULL,
	`updated_at` TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
	PRIMARY KEY (`id`),
	UNIQUE KEY `uq_image_ar_settings_key` (`setting_key`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT IGNORE INTO `image_ar_settings` (`setting_key`, `setting_value`, `setting_type`, `description`) VALUES
	('ar_enabled', '1', 'boolean', 'Enable image animation'),
	('ar_user_button', '1', 'boolean', 'Show the Animate image (AI) button'),
	('ar_server_url', 'http://heratio-gpu.invalid:5052', 'string', 'Video server URL'),
	('ar_model', 'svd', 'string', 'Default model'),
	('ar_request_timeout', '900', 'integer', 'Request timeout (s)'),
	('ar_num_frames', '14', 'integer', 'Frames'),
	('ar_fps', '7', 'integer', 'Frames per second'),
	('ar_motion_bucket_id', '127', 'integer', 'Motion bucket'),
	('ar_seed', '0', 'integer', 'Seed (0 = random)'),
	('ar_default_prompt', '', 'string', 'Default prompt');
