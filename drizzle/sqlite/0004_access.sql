CREATE TABLE `bans` (
	`room` text NOT NULL,
	`user_id` text NOT NULL,
	`reason` text,
	`until` integer,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`room`, `user_id`)
);
--> statement-breakpoint
CREATE TABLE `room_settings` (
	`room` text PRIMARY KEY NOT NULL,
	`private` integer DEFAULT false NOT NULL,
	`title` text
);
--> statement-breakpoint
ALTER TABLE `messages` ADD `user_id` text;