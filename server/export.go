package server

import (
	"strings"

	"github.com/roomstate/roomstate/answer"
	"github.com/valyala/fasthttp"
)

// answerOrFile replies with the JSON answer, or, when the query asks for
// ?format=csv or xlsx, with the answer's table as a file to download.
func answerOrFile(ctx *fasthttp.RequestCtx, json func() ([]byte, error), file func() (*answer.File, error)) error {
	f, err := answer.ParseFormat(string(ctx.QueryArgs().Peek("format")))
	if err != nil {
		return err
	}
	if f == answer.JSON {
		return reply(ctx)(json())
	}
	fl, err := file()
	if err != nil {
		return err
	}
	ctx.SetContentType(fl.MediaType)
	ctx.Response.Header.Set("Content-Disposition", contentDisposition(fl.Name, fl.ASCIIName))
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.SetBody(fl.Body)
	return nil
}

// sendSVG replies with a printable SVG sheet.
func sendSVG(ctx *fasthttp.RequestCtx) func(body []byte, err error) error {
	return func(body []byte, err error) error {
		if err != nil {
			return err
		}
		ctx.SetContentType(answer.MediaSVG)
		ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
		// no script runs in it, even opened on its own
		ctx.Response.Header.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		ctx.SetBody(body)
		return nil
	}
}

// contentDisposition is an attachment header (RFC 6266) naming the file
// twice: filename, in ASCII, for old clients, and filename*, in UTF-8
// (RFC 8187), which the others prefer.
func contentDisposition(name, ascii string) string {
	var b strings.Builder
	b.WriteString(`attachment; filename="`)
	for _, r := range ascii {
		if r < 0x20 || r >= 0x7f || r == '"' || r == '\\' {
			r = '_'
		}
		b.WriteRune(r)
	}
	b.WriteString(`"; filename*=UTF-8''`)
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
