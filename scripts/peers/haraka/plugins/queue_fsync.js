'use strict'
// The queue of the Haraka peer in scripts/bench-peers.sh: each message is written to its own
// file under $HARAKA/mail, then the file and the directory (for the new entry) are fsynced
// before answering OK, so Haraka's 250 stands for a message that is on disk.

const fs = require('node:fs')
const path = require('node:path')

exports.register = function () {
    this.dir = path.join(process.env.HARAKA, 'mail')
    fs.mkdirSync(this.dir, { recursive: true })
}

exports.hook_queue = function (next, connection) {
    const file = path.join(this.dir, `${connection.transaction.uuid}.eml`)
    const done = (err) => {
        if (!err) return next(OK, 'Stored')
        connection.logerror(this, `${file}: ${err.message}`)
        next(DENYSOFT, 'Could not store the message')
    }
    fs.open(file, 'wx', (err, fd) => {
        if (err) return done(err)
        const out = fs.createWriteStream(file, { fd, autoClose: false })
        let failed = false
        out.once('error', (e) => {
            failed = true
            fs.close(fd, () => done(e))
        })
        out.once('finish', () => {
            if (failed) return
            fs.fsync(fd, (e) =>
                fs.close(fd, (e2) => (e || e2 ? done(e || e2) : fsync_dir(this.dir, done))),
            )
        })
        connection.transaction.message_stream.pipe(out)
    })
}

function fsync_dir(dir, done) {
    fs.open(dir, 'r', (err, fd) => {
        if (err) return done(err)
        fs.fsync(fd, (e) => fs.close(fd, (e2) => done(e || e2)))
    })
}
