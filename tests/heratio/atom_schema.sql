# AtoM's tables that imagear reads, trimmed from AtoM's own definition
# (artefactual/atom, data/sql/lib.model.schema.sql, MySQL/InnoDB), plus the AtoM 2.5+
# migration of digital_object (arMigration0169 and the later key fix: information_object_id
# became object_id, a key on object with ON DELETE CASCADE; the language column).
# Column names, types, NULL-ness, keys and foreign keys are AtoM's; only tables imagear does not
# touch are left out, and with them the foreign keys that point at those tables
# (information_object.repository_id -> repository). Loaded as AtoM's installer loads it, with the
# key checks off while tables are created.

SET FOREIGN_KEY_CHECKS = 0;

CREATE TABLE `object`
(
	`class_name` VARCHAR(255),
	`created_at` DATETIME  NOT NULL,
	`updated_at` DATETIME  NOT NULL,
	`id` INTEGER  NOT NULL AUTO_INCREMENT,
	`serial_number` INTEGER default 0 NOT NULL,
	PRIMARY KEY (`id`)
)Engine=InnoDB;

CREATE TABLE `taxonomy`
(
	`id` INTEGER  NOT NULL,
	`usage` VARCHAR(1024),
	`parent_id` INTEGER,
	`lft` INTEGER  NOT NULL,
	`rgt` INTEGER  NOT NULL,
	`source_culture` VARCHAR(7)  NOT NULL,
	PRIMARY KEY (`id`),
	CONSTRAINT `taxonomy_FK_1`
		FOREIGN KEY (`id`)
		REFERENCES `object` (`id`)
		ON DELETE CASCADE,
	INDEX `taxonomy_FI_2` (`parent_id`),
	CONSTRAINT `taxonomy_FK_2`
		FOREIGN KEY (`parent_id`)
		REFERENCES `taxonomy` (`id`)
)Engine=InnoDB;

CREATE TABLE `term`
(
	`id` INTEGER  NOT NULL,
	`taxonomy_id` INTEGER  NOT NULL,
	`code` VARCHAR(1024),
	`parent_id` INTEGER,
	`lft` INTEGER  NOT NULL,
	`rgt` INTEGER  NOT NULL,
	`source_culture` VARCHAR(7)  NOT NULL,
	PRIMARY KEY (`id`),
	KEY `lft`(`lft`),
	CONSTRAINT `term_FK_1`
		FOREIGN KEY (`id`)
		REFERENCES `object` (`id`)
		ON DELETE CASCADE,
	INDEX `term_FI_2` (`taxonomy_id`),
	CONSTRAINT `term_FK_2`
		FOREIGN KEY (`taxonomy_id`)
		REFERENCES `taxonomy` (`id`)
		ON DELETE CASCADE,
	INDEX `term_FI_3` (`parent_id`),
	CONSTRAINT `term_FK_3`
		FOREIGN KEY (`parent_id`)
		REFERENCES `term` (`id`)
)Engine=InnoDB;

CREATE TABLE `information_object`
(
	`id` INTEGER  NOT NULL,
	`identifier` VARCHAR(1024),
	`oai_local_identifier` INTEGER  NOT NULL AUTO_INCREMENT,
	`level_of_description_id` INTEGER,
	`collection_type_id` INTEGER,
	`repository_id` INTEGER,
	`parent_id` INTEGER,
	`description_status_id` INTEGER,
	`description_detail_id` INTEGER,
	`description_identifier` VARCHAR(1024),
	`source_standard` VARCHAR(1024),
	`display_standard_id` INTEGER,
	`lft` INTEGER  NOT NULL,
	`rgt` INTEGER  NOT NULL,
	`source_culture` VARCHAR(7)  NOT NULL,
	PRIMARY KEY (`id`),
	UNIQUE KEY `information_object_U_1` (`oai_local_identifier`),
	KEY `lft`(`lft`),
	CONSTRAINT `information_object_FK_1`
		FOREIGN KEY (`id`)
		REFERENCES `object` (`id`)
		ON DELETE CASCADE,
	INDEX `information_object_FI_2` (`level_of_description_id`),
	CONSTRAINT `information_object_FK_2`
		FOREIGN KEY (`level_of_description_id`)
		REFERENCES `term` (`id`)
		ON DELETE SET NULL,
	INDEX `information_object_FI_3` (`collection_type_id`),
	CONSTRAINT `information_object_FK_3`
		FOREIGN KEY (`collection_type_id`)
		REFERENCES `term` (`id`),
	INDEX `information_object_FI_4` (`repository_id`),
	INDEX `information_object_FI_5` (`parent_id`),
	CONSTRAINT `information_object_FK_5`
		FOREIGN KEY (`parent_id`)
		REFERENCES `information_object` (`id`),
	INDEX `information_object_FI_6` (`description_status_id`),
	CONSTRAINT `information_object_FK_6`
		FOREIGN KEY (`description_status_id`)
		REFERENCES `term` (`id`)
		ON DELETE SET NULL,
	INDEX `information_object_FI_7` (`description_detail_id`),
	CONSTRAINT `information_object_FK_7`
		FOREIGN KEY (`description_detail_id`)
		REFERENCES `term` (`id`)
		ON DELETE SET NULL,
	INDEX `information_object_FI_8` (`display_standard_id`),
	CONSTRAINT `information_object_FK_8`
		FOREIGN KEY (`display_standard_id`)
		REFERENCES `term` (`id`)
		ON DELETE SET NULL
)Engine=InnoDB;

CREATE TABLE `information_object_i18n`
(
	`title` VARCHAR(1024),
	`alternate_title` VARCHAR(1024),
	`edition` VARCHAR(1024),
	`extent_and_medium` TEXT,
	`archival_history` TEXT,
	`acquisition` TEXT,
	`scope_and_content` TEXT,
	`appraisal` TEXT,
	`accruals` TEXT,
	`arrangement` TEXT,
	`access_conditions` TEXT,
	`reproduction_conditions` TEXT,
	`physical_characteristics` TEXT,
	`finding_aids` TEXT,
	`location_of_originals` TEXT,
	`location_of_copies` TEXT,
	`related_units_of_description` TEXT,
	`institution_responsible_identifier` VARCHAR(1024),
	`rules` TEXT,
	`sources` TEXT,
	`revision_history` TEXT,
	`id` INTEGER  NOT NULL,
	`culture` VARCHAR(7)  NOT NULL,
	PRIMARY KEY (`id`,`culture`),
	CONSTRAINT `information_object_i18n_FK_1`
		FOREIGN KEY (`id`)
		REFERENCES `information_object` (`id`)
		ON DELETE CASCADE
)Engine=InnoDB;

CREATE TABLE `digital_object`
(
	`id` INTEGER  NOT NULL,
	`object_id` INTEGER,
	`usage_id` INTEGER,
	`language` VARCHAR(50),
	`mime_type` VARCHAR(255),
	`media_type_id` INTEGER,
	`name` VARCHAR(1024)  NOT NULL,
	`path` VARCHAR(1024)  NOT NULL,
	`sequence` INTEGER,
	`byte_size` BIGINT,
	`checksum` VARCHAR(255),
	`checksum_type` VARCHAR(50),
	`parent_id` INTEGER,
	PRIMARY KEY (`id`),
	CONSTRAINT `digital_object_FK_1`
		FOREIGN KEY (`id`)
		REFERENCES `object` (`id`)
		ON DELETE CASCADE,
	INDEX `digital_object_FI_2` (`object_id`),
	CONSTRAINT `digital_object_FK_2`
		FOREIGN KEY (`object_id`)
		REFERENCES `object` (`id`)
		ON DELETE CASCADE,
	INDEX `digital_object_FI_3` (`usage_id`),
	CONSTRAINT `digital_object_FK_3`
		FOREIGN KEY (`usage_id`)
		REFERENCES `term` (`id`)
		ON DELETE SET NULL,
	INDEX `digital_object_FI_4` (`media_type_id`),
	CONSTRAINT `digital_object_FK_4`
		FOREIGN KEY (`media_type_id`)
		REFERENCES `term` (`id`)
		ON DELETE SET NULL,
	INDEX `digital_object_FI_5` (`parent_id`),
	CONSTRAINT `digital_object_FK_5`
		FOREIGN KEY (`parent_id`)
		REFERENCES `digital_object` (`id`)
)Engine=InnoDB;

CREATE TABLE `slug`
(
	`object_id` INTEGER  NOT NULL,
	`slug` VARCHAR(255)  NOT NULL,
	`id` INTEGER  NOT NULL AUTO_INCREMENT,
	`serial_number` INTEGER default 0 NOT NULL,
	PRIMARY KEY (`id`),
	UNIQUE KEY `slug_U_1` (`object_id`),
	UNIQUE KEY `slug_U_2` (`slug`),
	CONSTRAINT `slug_FK_1`
		FOREIGN KEY (`object_id`)
		REFERENCES `object` (`id`)
		ON DELETE CASCADE
)Engine=InnoDB;

CREATE TABLE `status`
(
	`object_id` INTEGER  NOT NULL,
	`type_id` INTEGER,
	`status_id` INTEGER,
	`id` INTEGER  NOT NULL AUTO_INCREMENT,
	`serial_number` INTEGER default 0 NOT NULL,
	PRIMARY KEY (`id`),
	INDEX `status_FI_1` (`object_id`),
	CONSTRAINT `status_FK_1`
		FOREIGN KEY (`object_id`)
		REFERENCES `object` (`id`)
		ON DELETE CASCADE,
	INDEX `status_FI_2` (`type_id`),
	CONSTRAINT `status_FK_2`
		FOREIGN KEY (`type_id`)
		REFERENCES `term` (`id`)
		ON DELETE CASCADE,
	INDEX `status_FI_3` (`status_id`),
	CONSTRAINT `status_FK_3`
		FOREIGN KEY (`status_id`)
		REFERENCES `term` (`id`)
		ON DELETE CASCADE
)Engine=InnoDB;

SET FOREIGN_KEY_CHECKS = 1;

# AtoM's fixed rows that the records below rely on (ids as AtoM's constants name them): the root
# description (QubitInformationObject::ROOT_ID = 1), the media-type (46) and digital-object-usage
# (47) taxonomies, the image media type (136) and the master, reference and thumbnail usages
# (140, 141, 142); the status-type (59) and publication-status (60) taxonomies with the
# publication status type (158) and its draft (159) and published (160) terms.
SET FOREIGN_KEY_CHECKS = 0;
INSERT INTO `object` (`class_name`, `created_at`, `updated_at`, `id`, `serial_number`) VALUES
	('QubitInformationObject', NOW(), NOW(), 1, 0),
	('QubitTaxonomy', NOW(), NOW(), 46, 0),
	('QubitTaxonomy', NOW(), NOW(), 47, 0),
	('QubitTerm', NOW(), NOW(), 136, 0),
	('QubitTerm', NOW(), NOW(), 140, 0),
	('QubitTerm', NOW(), NOW(), 141, 0),
	('QubitTerm', NOW(), NOW(), 142, 0),
	('QubitTaxonomy', NOW(), NOW(), 59, 0),
	('QubitTaxonomy', NOW(), NOW(), 60, 0),
	('QubitTerm', NOW(), NOW(), 158, 0),
	('QubitTerm', NOW(), NOW(), 159, 0),
	('QubitTerm', NOW(), NOW(), 160, 0);
INSERT INTO `taxonomy` (`id`, `usage`, `parent_id`, `lft`, `rgt`, `source_culture`) VALUES
	(46, NULL, NULL, 1, 2, 'en'),
	(47, NULL, NULL, 3, 4, 'en'),
	(59, NULL, NULL, 5, 6, 'en'),
	(60, NULL, NULL, 7, 8, 'en');
INSERT INTO `term` (`id`, `taxonomy_id`, `code`, `parent_id`, `lft`, `rgt`, `source_culture`) VALUES
	(136, 46, NULL, NULL, 1, 2, 'en'),
	(140, 47, NULL, NULL, 3, 4, 'en'),
	(141, 47, NULL, NULL, 5, 6, 'en'),
	(142, 47, NULL, NULL, 7, 8, 'en'),
	(158, 59, NULL, NULL, 9, 10, 'en'),
	(159, 60, NULL, NULL, 11, 12, 'en'),
	(160, 60, NULL, NULL, 13, 14, 'en');
INSERT INTO `information_object` (`id`, `identifier`, `parent_id`, `lft`, `rgt`, `source_culture`) VALUES
	(1, NULL, NULL, 1, 2, 'en');
SET FOREIGN_KEY_CHECKS = 1;

CREATE TABLE `event`
(
	`id` INTEGER  NOT NULL,
	`start_date` DATE,
	`start_time` TIME,
	`end_date` DATE,
	`end_time` TIME,
	`type_id` INTEGER  NOT NULL,
	`object_id` INTEGER,
	`actor_id` INTEGER,
	`source_culture` VARCHAR(16)  NOT NULL,
	PRIMARY KEY (`id`),
	CONSTRAINT `event_FK_1`
		FOREIGN KEY (`id`)
		REFERENCES `object` (`id`)
		ON DELETE CASCADE,
	INDEX `event_FI_3` (`object_id`),
	CONSTRAINT `event_FK_3`
		FOREIGN KEY (`object_id`)
		REFERENCES `object` (`id`)
		ON DELETE CASCADE
)Engine=InnoDB;

CREATE TABLE `event_i18n`
(
	`name` VARCHAR(1024),
	`description` TEXT,
	`date` VARCHAR(1024),
	`id` INTEGER  NOT NULL,
	`culture` VARCHAR(16)  NOT NULL,
	PRIMARY KEY (`id`,`culture`),
	CONSTRAINT `event_i18n_FK_1`
		FOREIGN KEY (`id`)
		REFERENCES `event` (`id`)
		ON DELETE CASCADE
)Engine=InnoDB;
