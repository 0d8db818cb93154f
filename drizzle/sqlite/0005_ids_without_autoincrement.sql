CREATE TABLE `store_meta` (
	`key` text PRIMARY KEY NOT NULL,
	`value` integer NOT NULL
);
--> statement-breakpoint
-- Hand-written: AUTOINCREMENT's last id becomes the floor of the writer's ids, which it keeps from
-- here on (the newest rows may have been deleted: their ids are not given again).
INSERT INTO `store_meta` (`key`, `value`) SELECT 'id_floor', `seq` FROM `sqlite_sequence` WHERE `name` = 'messages';--> statement-breakpoint
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_messages` (
	`id` integer PRIMARY KEY NOT NULL,
	`room` text NOT NULL,
	`name` text NOT NULL,
	`message` text NOT NULL,
	`timestamp` integer NOT NULL,
	`client_id` text,
	`user_id` text
);
--> statement-breakpoint
INSERT INTO `__new_messages`("id", "room", "name", "message", "timestamp", "client_id", "user_id") SELECT "id", "room", "name", "message", "timestamp", "client_id", "user_id" FROM `messages`;--> statement-breakpoint
DROP TABLE `messages`;--> statement-breakpoint
ALTER TABLE `__new_messages` RENAME TO `messages`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `messages_room_id` ON `messages` (`room`,`id`);