ALTER TABLE `messages` ADD `client_id` text;--> statement-breakpoint
CREATE UNIQUE INDEX `messages_client_id` ON `messages` (`room`,`name`,`client_id`) WHERE "messages"."client_id" IS NOT NULL;