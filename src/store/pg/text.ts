/** Text as PostgreSQL can hold it: U+0000, which its text type refuses, becomes U+FFFD. */
export const pgText = (text: string) => (text.includes("\0") ? text.replaceAll("\0", "\uFFFD") : text);
