declare module 'apache-md5' {
  /** Apache's $apr1$ MD5: with a salt (a whole hash works), returns the hash string. */
  export default function md5(password: string, salt?: string): string;
}
